/**
 * The conductor process: wires the event store, the job manager and the socket server,
 * recovers from a previous crash, and handles signals.
 *
 * Start-up order: umask 077, private dirs and files → config → event store (projection
 * caught up) → close jobs a dead conductor left active (`job.interrupted`) → start lock →
 * stale-socket check → bind → pid file → `daemon.started`. Shutdown (SIGTERM/SIGINT or
 * `daemon.shutdown`): stop taking work, interrupt running jobs (their process groups get
 * SIGTERM then SIGKILL), append `daemon.stopping`, tell clients, flush and close the store,
 * remove socket and pid file.
 */
import fs from 'node:fs';
import { EventBus } from '../events/bus.js';
import { EventStore } from '../events/store.js';
import { JobManager } from '../actors/jobManager.js';
import { IpcServer, DEFAULT_SERVER_LIMITS } from '../ipc/server.js';
import { ConfigError, DASHBOARD_KEYS, changedKeys, loadConfigFile, type ConductorConfig } from './config.js';
import type { DashboardServer } from '../dashboard/server.js';
import { createDispatch } from './methods.js';
import { JobTracer } from './jobTrace.js';
import { startHeapRelease, type HeapRelease } from './heapRelease.js';
import { startMonitoring, type Monitoring } from './monitoring.js';
import { stopOrphans } from './orphans.js';
import { stopEscapedOrphans, takeMarkerInstance } from './escapedOrphans.js';
import { LiveHost, forgetLiveState } from '../actors/liveRestore/liveHost.js';
import { conductorPaths, resolveHome, type ConductorPaths } from '../shared/paths.js';
import { catchSighupEarly, releaseSighup, routeSighup, sighupConfigLoaded } from './earlySighup.js';
import { PRIVATE_UMASK, ensurePrivateDir, ensurePrivateFile, tightenEntries } from '../shared/privateFiles.js';
import { acquireStartLock, clearStaleSocket, removePidFile, writePidFile } from './startGuard.js';
import { VERSION } from './version.js';
import { startFleet, type Fleet } from '../fleet/index.js';
import { buildHostReport, fleetJobLogs, hasRoomForFleetJob, submitFleetJob } from './fleetBridge.js';
import { Logger, type LogFn, type LogFormat } from '../log/logger.js';
import type { StderrRotation } from '../log/rotation.js';

export interface RunConductorOptions {
  home?: string;
  /** Where log lines go instead of the logger (level filtering and format are then the caller's). */
  log?: LogFn;
  /** Overrides config `log_format` (`--log-format`). */
  logFormat?: LogFormat;
  /** stderr is a file to rotate by size (`--detach`, `--log-max-bytes`). */
  rotation?: StderrRotation;
  /** Install SIGTERM/SIGINT/SIGHUP handlers and exit the process at the end (the CLI does). */
  handleSignals?: boolean;
}

export interface ConductorHandle {
  paths: ConductorPaths;
  /** Resolves when the conductor has fully stopped. */
  stopped: Promise<void>;
  stop(reason?: string): Promise<void>;
  reloadConfig(): void;
}

export async function runConductor(options: RunConductorOptions = {}): Promise<ConductorHandle> {
  const home = options.home ?? resolveHome();
  const paths = conductorPaths(home);
  const startedAt = Date.now() / 1000;
  // Info and text until the config is read; every module gets `log` (logger.log: info unless told).
  const logger = new Logger({ name: 'mzt-conductor', format: options.logFormat, rotation: options.rotation });
  const log: LogFn = options.log ?? logger.log;

  // A SIGHUP while starting must not kill it (earlySighup.ts); the CLI installs this earlier still.
  if (options.handleSignals) catchSighupEarly();
  // Before anything creates a file (shared/privateFiles.ts).
  process.umask(PRIVATE_UMASK);
  ensurePrivateDir(paths.home);
  ensurePrivateDir(paths.runDir);
  fs.mkdirSync(paths.jobsDir, { recursive: true, mode: 0o700 });
  for (const file of tightenEntries([paths.home, paths.runDir])) log(`tightened ${file}: only the owner may read it now`);
  ensurePrivateFile(paths.eventsDb);
  ensurePrivateFile(paths.monitorDb);

  let config: ConductorConfig = loadConfigFile(paths.configFile);
  logger.configure(config.log_level, options.logFormat ?? config.log_format);
  sighupConfigLoaded();

  const releaseLock = acquireStartLock(paths.startLockFile);
  let store: EventStore | undefined;
  try {
    await clearStaleSocket(paths.socketPath, log);
    const bus = new EventBus({ log });
    store = EventStore.open(paths.eventsDb, { bus });
    const openedStore = store;

    // Jobs that were active when a previous conductor died are closed explicitly — or, with
    // live_restore, re-adopted when their sheets ran on under waiters (actors/liveRestore/).
    let orphans = openedStore.activeJobs();
    const live = config.live_restore ? new LiveHost(paths.jobsDir) : undefined;
    const restorePlans = live ? live.planRestore(orphans, log) : undefined;
    if (restorePlans) orphans = restorePlans.rest;
    const orphanStops = stopOrphans({
      jobs: orphans,
      graceSeconds: config.kill_grace_seconds,
      log,
      record: (e) => openedStore.appendSync(e),
      readNote: (key) => openedStore.readNote(key),
      writeNote: (key, value) => openedStore.writeNote(key, value),
    });
    // What escaped those sheets' groups under the previous run, found by its marker.
    const markers = takeMarkerInstance(openedStore);
    const escapedStops = stopEscapedOrphans({
      previous: markers.previous,
      jobIds: new Set(orphans.map((j) => j.job_id)),
      groups: new Set(orphans.flatMap((j) => j.sheets.map((sh) => sh.pid ?? 0)).filter((pid) => pid > 1)),
      graceSeconds: config.kill_grace_seconds,
      log,
      record: (e) => openedStore.appendSync(e),
    });
    for (const job of orphans) {
      forgetLiveState(paths.jobsDir, job.job_id); // a job that had live_restore state is not re-adopted now
      openedStore.appendSync({
        type: 'job.interrupted',
        job_id: job.job_id,
        data: { reason: 'conductor_restarted', previous_status: job.status },
      });
    }
    if (orphans.length > 0) log(`closed ${orphans.length} job(s) left active by a previous conductor`);

    let monitoring: Monitoring | undefined;
    const jobs = new JobManager({
      append: (e) => openedStore.append(e),
      acceptingWork: () => monitoring?.monitor.acceptingWork() ?? { accepting: true },
      jobsDir: paths.jobsDir,
      // A cleared job's id stays taken while its events are in the log (see clearJobs.ts).
      jobExists: (id) => openedStore.getJob(id) !== undefined || openedStore.read(0, 1, { job_id: id }).length > 0,
      config: {
        max_concurrent_jobs: config.max_concurrent_jobs,
        kill_grace_seconds: config.kill_grace_seconds,
        default_sheet_timeout_seconds: config.default_sheet_timeout_seconds,
        max_log_bytes_per_job: config.max_log_bytes_per_job,
      },
      log,
      knownProcesses: (tag) => monitoring?.knownProcesses(tag) ?? [],
      markerInstance: markers.current,
      live,
    });
    for (const plan of restorePlans?.plans ?? []) jobs.adopt(plan);
    if (restorePlans?.plans.length) log(`live_restore: re-adopted ${restorePlans.plans.length} job(s) a previous conductor left running`);
    live?.startHeartbeat();

    const tracer = new JobTracer({ store: openedStore, jobs, monitoring: () => monitoring, log });
    let shuttingDown = false;
    let server: IpcServer | undefined;
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    let stopping: Promise<void> | undefined;
    let retentionTimer: NodeJS.Timeout | undefined;
    let dashboard: DashboardServer | undefined;
    let heapRelease: HeapRelease | undefined;
    let fleet: Fleet | undefined;
    /** Reloads run one after the other (a dashboard restart takes a moment); stop waits for them. */
    let reloads = Promise.resolve();

    const stop = (reason = 'stop requested'): Promise<void> => {
      if (stopping) return stopping;
      shuttingDown = true;
      stopping = (async () => {
        log(`stopping: ${reason}`);
        // First: strace detaches before the jobs are stopped (no tracee left stopped or traced).
        await tracer.stopAll();
        monitoring?.stop();
        heapRelease?.stop();
        await reloads;
        await dashboard?.stop().catch((err: Error) => log(`dashboard stop failed: ${err.message}`, 'warn'));
        const orphansStopped = Promise.all([orphanStops.finish(), escapedStops.finish()]);
        try {
          await jobs.shutdown();
        } catch (err) {
          log(`job shutdown failed: ${(err as Error).message}`, 'error');
        }
        await orphansStopped;
        try {
          await openedStore.append({ type: 'daemon.stopping', data: { reason } });
        } catch (err) {
          log(`could not record daemon.stopping: ${(err as Error).message}`, 'error');
        }
        // Export what it can (daemon.stopping included) before the store closes; the next
        // start resumes from what the stream holds anyway.
        await fleet?.stop().catch((err: Error) => log(`fleet stop failed: ${err.message}`, 'warn'));
        await server?.close(reason);
        openedStore.close();
        removePidFile(paths.pidFile);
        clearInterval(retentionTimer);
        log('stopped');
        resolveStopped();
      })();
      return stopping;
    };

    const { dispatch } = createDispatch({
      version: VERSION,
      startedAt,
      paths,
      store: openedStore,
      jobs,
      limits: DEFAULT_SERVER_LIMITS,
      config: () => config,
      serverStats: () => ({ connections: server?.connectionCount ?? 0, subscriptions: server?.subscriptionCount ?? 0 }),
      shuttingDown: () => shuttingDown,
      monitoring: () => monitoring,
      tracer,
      dashboardUrl: () => (dashboard?.port ? dashboard.url : null),
      fleet: () => fleet,
      debugMethods: process.env.MZT_DEBUG_METHODS === '1',
      log,
      requestShutdown: (reason) => {
        // Answer first, then stop.
        setImmediate(() => void stop(reason));
      },
    });

    server = new IpcServer({
      socketPath: paths.socketPath,
      log: openedStore,
      events: { subscribe: (handler) => bus.subscribe((e) => handler(e.event, e.bytes)) },
      dispatch,
      limits: DEFAULT_SERVER_LIMITS,
      logger: log,
    });
    // Before the socket answers, so the first daemon.status (`start --detach` asks at once)
    // already has the dashboard's address; its bridge connects as soon as the socket listens.
    if (config.dashboard_enabled) dashboard = (await startDashboard(config, paths, log)).dashboard;
    try {
      await server.listen();
    } catch (err) {
      await dashboard?.stop().catch(() => undefined);
      throw err;
    }
    writePidFile(paths.pidFile);
    releaseLock();

    const reloadOnce = async () => {
      let next: ConductorConfig;
      try {
        next = loadConfigFile(paths.configFile);
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : String(err);
        log(`config reload rejected, keeping the running config: ${message}`, 'warn');
        void openedStore.append({ type: 'config.reload_failed', data: { error: message } }).catch(() => undefined);
        return;
      }
      let changed = changedKeys(config, next);
      if (changed.includes('live_restore')) log('config reload: live_restore takes effect at the next start');
      // Dashboard keys count as applied only once the dashboard runs with them.
      const previous = config;
      config = { ...next, ...pickDashboard(previous) };
      logger.configure(next.log_level, options.logFormat ?? next.log_format);
      monitoring?.applyConfig(config);
      jobs.updateConfig({
        max_concurrent_jobs: next.max_concurrent_jobs,
        kill_grace_seconds: next.kill_grace_seconds,
        default_sheet_timeout_seconds: next.default_sheet_timeout_seconds,
        max_log_bytes_per_job: next.max_log_bytes_per_job,
      });
      const dashboardChanged = changed.filter((k) => (DASHBOARD_KEYS as readonly string[]).includes(k));
      if (dashboardChanged.length > 0 && !shuttingDown) {
        const error = await restartDashboard(next, previous);
        if (error === undefined) {
          config = { ...config, ...pickDashboard(next) };
        } else {
          changed = changed.filter((k) => !dashboardChanged.includes(k));
          const message = `${dashboardChanged.join(', ')} not applied: ${error}; the dashboard keeps its previous settings`;
          log(`config reload: ${message}`, 'warn');
          void openedStore.append({ type: 'config.reload_failed', data: { error: message, keys: dashboardChanged } }).catch(() => undefined);
        }
      }
      if (changed.includes('fleet') && !shuttingDown) {
        await fleet?.stop().catch((err: Error) => log(`fleet stop failed: ${err.message}`, 'warn'));
        fleet = startFleetFor(next);
      }
      log(`config reloaded (${changed.length ? changed.join(', ') : 'no changes'})`);
      void openedStore.append({ type: 'config.reloaded', data: { changed } }).catch(() => undefined);
    };

    /** Stops the dashboard and starts it with `next`; on failure brings back `previous` and says why. */
    const restartDashboard = async (next: ConductorConfig, previous: ConductorConfig): Promise<string | undefined> => {
      await dashboard?.stop().catch((err: Error) => log(`dashboard stop failed: ${err.message}`, 'warn'));
      dashboard = undefined;
      if (!next.dashboard_enabled) {
        log('dashboard stopped (dashboard_enabled is false)');
        return undefined;
      }
      const started = await startDashboard(next, paths, log);
      dashboard = started.dashboard;
      if (dashboard || !previous.dashboard_enabled) return started.error;
      dashboard = (await startDashboard(previous, paths, log)).dashboard;
      return started.error;
    };

    const startFleetFor = (c: ConductorConfig): Fleet | undefined =>
      c.fleet
        ? startFleet({
            config: c.fleet,
            eventsDb: paths.eventsDb,
            home: paths.home,
            store: openedStore,
            report: () => buildHostReport({ startedAt, config, jobs, store: openedStore, monitoring }),
            hasRoom: () => !shuttingDown && hasRoomForFleetJob({ config, jobs, monitoring }),
            submit: (job) => submitFleetJob(jobs, job),
            logs: (request) => fleetJobLogs(openedStore, paths, request),
            rejected: (reason, detail) => {
              log(`fleet: a message on the work queue was refused: ${reason}`, 'warn');
              // The job id stays in data: the envelope's job_id would make it a job of this conductor.
              void openedStore.append({ type: 'fleet.job_rejected', data: { reason, ...detail } }).catch(() => undefined);
            },
            log,
          })
        : undefined;
    fleet = startFleetFor(config);

    const reloadConfig = () => {
      reloads = reloads.then(reloadOnce).catch((err: Error) => log(`config reload failed: ${err.stack ?? err}`, 'error'));
    };

    const applyRetention = () => {
      try {
        const { deleted_events } = openedStore.applyRetention(config.events_retention_days * 86400);
        if (deleted_events > 0) log(`retention: deleted ${deleted_events} event(s) older than ${config.events_retention_days} days`);
      } catch (err) {
        log(`retention failed: ${(err as Error).message}`, 'error');
      }
    };
    applyRetention();
    retentionTimer = setInterval(applyRetention, 3600_000);
    retentionTimer.unref();

    monitoring = startMonitoring({
      config,
      store: openedStore,
      bus,
      jobs: () => jobs,
      startedAtMs: startedAt * 1000,
      log,
      monitorDb: paths.monitorDb,
      monitorJsonl: paths.monitorJsonl,
    });

    // After a burst, an idle conductor gives back the heap it grew (see heapRelease.ts).
    // Activity in bytes: events committed (~256 B each) and bytes read from clients (requests,
    // and garbage, count).
    heapRelease = startHeapRelease({ activity: () => openedStore.stats.events * 256 + (server?.bytesReceived ?? 0), log });

    await openedStore.append({
      type: 'daemon.started',
      data: { pid: process.pid, version: VERSION, recovered_jobs: orphans.length },
    });
    log(`conductor ${VERSION} ready on ${paths.socketPath} (pid ${process.pid}, head seq ${openedStore.headSeq})`);

    if (options.handleSignals) {
      let signalled = false;
      const onStopSignal = (signal: NodeJS.Signals) => {
        if (signalled) {
          log(`${signal} again while stopping; still stopping`);
          return;
        }
        signalled = true;
        void stop(`signal ${signal}`);
      };
      process.on('SIGTERM', onStopSignal);
      process.on('SIGINT', onStopSignal);
      routeSighup(reloadConfig);
      // Over a file-size limit (ulimit -f), writes must fail with EFBIG — reported as storage
      // errors — instead of the default action, which kills the conductor.
      process.on('SIGXFSZ', () => undefined);
      void stopped.then(() => {
        releaseSighup();
        process.exitCode = 0;
        // Let stdio flush, then leave even if a stray handle lingers.
        setTimeout(() => process.exit(0), 100).unref();
      });
    }

    return { paths, stopped, stop, reloadConfig };
  } catch (err) {
    releaseLock();
    store?.close();
    throw err;
  }
}

function pickDashboard(config: ConductorConfig): Partial<ConductorConfig> {
  return Object.fromEntries(DASHBOARD_KEYS.map((k) => [k, config[k]]));
}

/**
 * The dashboard runs in the conductor process as a client of its own socket (one bridge
 * connection). A port already in use must not stop the conductor: it runs without one.
 */
async function startDashboard(
  config: ConductorConfig,
  paths: ConductorPaths,
  log: LogFn,
): Promise<{ dashboard?: DashboardServer; error?: string }> {
  try {
    // Loaded only when enabled: a conductor without a dashboard does not carry its modules.
    const { DashboardServer } = await import('../dashboard/server.js');
    const dashboard = new DashboardServer({
      home: paths.home,
      socketPath: paths.socketPath,
      host: config.dashboard_host,
      port: config.dashboard_port,
      token: config.dashboard_token || process.env.MZT_DASHBOARD_TOKEN || undefined,
      auth: config.dashboard_auth,
      tokenFile: paths.dashboardTokenFile,
      log,
    });
    try {
      await dashboard.start();
    } catch (err) {
      await dashboard.stop().catch(() => undefined);
      throw err;
    }
    return { dashboard };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `${config.dashboard_host}:${config.dashboard_port} is in use` : (err as Error).message;
    log(`dashboard not started: ${why} (set dashboard_port in config.json, 0 for any free port, or dashboard_enabled: false)`, 'warn');
    return { error: why };
  }
}
