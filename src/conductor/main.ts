/**
 * The conductor process: wires the event store, the job manager and the socket server,
 * recovers from a previous crash, and handles signals. Each part is built by its own module
 * under parts/; runConductor is the order they start in, shutdown.ts the order they stop in.
 *
 * Start-up order: umask 077, private dirs and files → config → start lock → stale-socket
 * check → event store (projection caught up) → close jobs a dead conductor left active
 * (`job.interrupted`) → jobs → socket server built → dashboard → bind → pid file → fleet →
 * retention → monitoring → heap release → `daemon.started`. Shutdown (SIGTERM/SIGINT or
 * `daemon.shutdown`; the whole order in shutdown.ts): stop taking work, interrupt running jobs
 * (their process groups get SIGTERM then SIGKILL), append `daemon.stopping`, tell clients,
 * flush and close the store, remove socket and pid file.
 */
import { EventBus } from '../events/bus.js';
import { EventStore } from '../events/store.js';
import { loadConfigFile, type ConductorConfig } from './config.js';
import { JobTracer } from './jobTrace.js';
import { startHeapRelease } from './heapRelease.js';
import { startMonitoring } from './monitoring.js';
import { conductorPaths, resolveHome, type ConductorPaths } from '../shared/paths.js';
import { catchSighupEarly, sighupConfigLoaded } from './earlySighup.js';
import { acquireStartLock, clearStaleSocket, writePidFile } from './startGuard.js';
import { VERSION } from './version.js';
import { Logger, type LogFn, type LogFormat } from '../log/logger.js';
import type { StderrRotation } from '../log/rotation.js';
import type { ConductorParts, RunningConductor } from './parts/conductorParts.js';
import { preparePrivateHome } from './parts/privateHome.js';
import { closeLeftoverJobs } from './parts/leftoverJobs.js';
import { startJobs } from './parts/jobs.js';
import { createServer, listen } from './parts/server.js';
import { startDashboard } from './parts/dashboard.js';
import { startFleetFor } from './parts/fleet.js';
import { startRetention } from './parts/retention.js';
import { configReloader } from './parts/configReload.js';
import { shutdownOnce } from './shutdown.js';
import { handleProcessSignals } from './stopSignals.js';
import { releaseStartupTiering } from './startupTiering.js';

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
  const paths = conductorPaths(options.home ?? resolveHome());
  const startedAt = Date.now() / 1000;
  // Info and text until the config is read; every module gets `log` (logger.log: info unless told).
  const logger = new Logger({ name: 'mzt-conductor', format: options.logFormat, rotation: options.rotation });
  const log: LogFn = options.log ?? logger.log;

  // A SIGHUP while starting must not kill it (earlySighup.ts); the CLI installs this earlier still.
  if (options.handleSignals) catchSighupEarly();
  preparePrivateHome(paths, log); // before anything creates a file

  const config = loadConfigFile(paths.configFile);
  const configureLog = (next: ConductorConfig) => logger.configure(next.log_level, options.logFormat ?? next.log_format);
  configureLog(config);
  sighupConfigLoaded();

  const releaseLock = acquireStartLock(paths.startLockFile);
  let store: EventStore | undefined;
  try {
    await clearStaleSocket(paths.socketPath, log);
    const bus = new EventBus({ log });
    store = EventStore.open(paths.eventsDb, { bus });
    const parts: ConductorParts = { paths, startedAt, log, bus, store, config, shuttingDown: false, reloads: Promise.resolve() };

    const leftovers = closeLeftoverJobs(parts);
    const jobs = startJobs(parts, leftovers);
    const tracer = new JobTracer({ store, jobs, monitoring: () => parts.monitoring, log });
    const c: RunningConductor = Object.assign(parts, { jobs, tracer, leftovers });
    const shutdown = shutdownOnce(c);

    // Answer daemon.shutdown first, then stop.
    const server = createServer(c, (reason) => setImmediate(() => void shutdown.stop(reason)));
    c.server = server;
    // Before the socket answers, so the first daemon.status (`start --detach` asks at once)
    // already has the dashboard's address; its bridge connects as soon as the socket listens.
    if (config.dashboard_enabled) c.dashboard = (await startDashboard(config, paths, log)).dashboard;
    await listen(c, server);
    writePidFile(paths.pidFile);
    releaseLock();

    const reloadConfig = configReloader(c, configureLog);
    c.fleet = startFleetFor(c, config);
    c.retentionTimer = startRetention(c);
    c.monitoring = startMonitoring({
      config,
      store,
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
    c.heapRelease = startHeapRelease({ activity: () => c.store.stats.events * 256 + server.bytesReceived, log });

    await store.append({
      type: 'daemon.started',
      data: { pid: process.pid, version: VERSION, recovered_jobs: leftovers.closed },
    });
    releaseStartupTiering();
    log(`conductor ${VERSION} ready on ${paths.socketPath} (pid ${process.pid}, head seq ${store.headSeq})`);

    if (options.handleSignals) handleProcessSignals(shutdown, reloadConfig, log);
    return { paths, stopped: shutdown.stopped, stop: shutdown.stop, reloadConfig };
  } catch (err) {
    releaseLock();
    store?.close();
    throw err;
  }
}
