/**
 * The socket methods: each validates its params against protocol/schemas (a clear
 * `invalid params` naming the field) and then calls the part of the conductor that owns
 * the answer. Nothing here holds state of its own.
 */
import path from 'node:path';
import type { Dispatch, RequestContext } from '../ipc/connection.js';
import { ErrorCode, PROTOCOL_VERSION, ProtocolError } from '../ipc/messages.js';
import { validateParams } from '../ipc/schema.js';
import type { Handlers } from '../ipc/methodTable.js';
import type { ServerLimits } from '../ipc/server.js';
import { StorageError, type EventStore } from '../events/store.js';
import type { JobManager } from '../actors/jobManager.js';
import { TERMINAL_JOB_STATUSES } from '../events/jobRecord.js';
import { jobLogExists, readJobLogFrom, readJobLogTail } from '../actors/jobLogRead.js';
import type { ConductorPaths } from '../shared/paths.js';
import { jobDir } from '../shared/paths.js';
import type { ConductorConfig } from './config.js';
import type { Monitoring } from './monitoring.js';
import type { Fleet } from '../fleet/index.js';
import { buildResourceReport } from '../storage/resourceReport.js';
import { LABEL_KEY } from '../events/jobRecord.js';
import { clearJobs } from './clearJobs.js';
import { planRetry } from '../actors/jobRetry.js';
import type { JobTracer } from './jobTrace.js';
import { recordCost } from '../monitor/jobCostRecord.js';
import type { JobRecord } from '../events/jobRecord.js';
import { fleetHandlers } from './fleetMethods.js';

export interface MethodDeps {
  version: string;
  startedAt: number;
  paths: ConductorPaths;
  store: EventStore;
  jobs: JobManager;
  limits: ServerLimits;
  config(): ConductorConfig;
  serverStats(): { connections: number; subscriptions: number };
  shuttingDown(): boolean;
  requestShutdown(reason: string): void;
  monitoring(): Monitoring | undefined;
  /** Runs `job.trace` (strace of a sheet's tree); absent: the method answers NOT_AVAILABLE. */
  tracer?: JobTracer;
  /** The address of the dashboard this conductor serves, if any. */
  dashboardUrl?(): string | null;
  /** The fleet part, when config `fleet` is set (daemon.status shows its export lag). */
  fleet?(): Fleet | undefined;
  /** Expose `debug.emit` (tests and benchmarks only; MZT_DEBUG_METHODS=1). */
  debugMethods: boolean;
  log?(line: string): void;
}

function notFound(jobId: string): ProtocolError {
  return new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
}

export function createDispatch(deps: MethodDeps): { dispatch: Dispatch; methods: string[] } {
  const { store, jobs } = deps;
  // A record with its cost: live figures from the latest snapshot, or the ledger's final ones.
  const withCost = (record: JobRecord) => {
    const m = deps.monitoring();
    const cost = recordCost(record, { snapshot: m?.profiler.latest(), ledger: (id) => m?.storage.jobCosts(id) ?? [] });
    return { ...record, cost };
  };
  const uptime = () => Math.round((Date.now() / 1000 - deps.startedAt) * 10) / 10;

  // Params and results typed by the one method table (ipc/methodTable.ts) the client uses too.
  const handlers: Handlers = {
    hello: (p) => {
      if (p.protocol_version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          ErrorCode.UNSUPPORTED_VERSION,
          `protocol version ${p.protocol_version} is not supported (this conductor speaks ${PROTOCOL_VERSION})`,
          { supported: [PROTOCOL_VERSION] },
        );
      }
      return {
        protocol_version: PROTOCOL_VERSION,
        server_version: deps.version,
        pid: process.pid,
        started_at: deps.startedAt,
        head_seq: store.headSeq,
        methods,
        limits: deps.limits,
      };
    },

    ping: () => ({ pong: true, ts: Date.now() / 1000 }),

    'daemon.status': () => {
      const stats = deps.serverStats();
      return {
        pid: process.pid,
        server_version: deps.version,
        uptime_seconds: uptime(),
        started_at: deps.startedAt,
        running_jobs: jobs.runningCount,
        queued_jobs: jobs.queuedCount,
        paused_jobs: jobs.pausedCount,
        active_sheets: jobs.activeSheets,
        total_jobs: store.listJobs({ limit: 1 }).total,
        head_seq: store.headSeq,
        connections: stats.connections,
        subscriptions: stats.subscriptions,
        memory_usage_mb: Math.round((process.memoryUsage().rss / 1048576) * 10) / 10,
        shutting_down: deps.shuttingDown(),
        socket_path: deps.paths.socketPath,
        home: deps.paths.home,
        storage: store.health,
        dashboard_url: deps.dashboardUrl?.() ?? null,
        fleet: deps.fleet?.()?.status() ?? null,
      };
    },

    // The dashboard token is a secret; the socket is owner-only, but configs get pasted around.
    'daemon.config': () => ({ ...deps.config(), ...(deps.config().dashboard_token ? { dashboard_token: '<set>' } : {}) }),

    'daemon.health': () => {
      const monitor = deps.monitoring()?.monitor.status();
      const reasons: string[] = [];
      if (deps.shuttingDown()) reasons.push('shutting down');
      if (!store.health.writable) reasons.push(`event store not writable: ${store.health.last_error ?? 'unknown error'}`);
      if (jobs.unrecordedEvents > 0) reasons.push(`${jobs.unrecordedEvents} job event(s) the event store refused wait to be recorded`);
      if (!monitor) reasons.push('resource monitor not started');
      else if (!monitor.accepting_work) reasons.push(monitor.not_accepting_reason ?? 'not accepting work');
      const restarts = deps.monitoring()?.restarts() ?? {};
      for (const [actor, n] of Object.entries(restarts)) {
        if (n >= 3) reasons.push(`${actor} restarted ${n} times in the last 10 minutes`);
      }
      return {
        status: reasons.length === 0 ? 'ok' : 'degraded',
        live: true,
        ready: reasons.length === 0,
        reasons,
        pid: process.pid,
        uptime_seconds: uptime(),
        shutting_down: deps.shuttingDown(),
        storage: store.health,
        // With the pauses the monitor holds: jobs it paused and may resume or cancel.
        monitor: monitor
          ? {
              ...monitor,
              shed_pauses: (deps.monitoring()?.shedder.held() ?? []).map((p) => ({
                job_id: p.job_id,
                cause: p.cause,
                over: p.what,
                paused_seconds: Math.round((Date.now() - p.paused_at) / 100) / 10,
              })),
            }
          : null,
        actor_restarts: restarts,
      };
    },

    'monitor.history': (p) => {
      const storage = deps.monitoring()?.storage;
      if (!storage) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'monitor storage is not running');
      const since = p.since ?? Date.now() / 1000 - 3600;
      return p.resolution === 'minute'
        ? { resolution: 'minute', since, minutes: storage.readMinutes(since, p.limit) }
        : { resolution: 'full', since, snapshots: storage.readSnapshots(since, p.limit) };
    },

    'monitor.process_history': (p) => {
      const storage = deps.monitoring()?.storage;
      if (!storage) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'monitor storage is not running');
      const since = p.since ?? Date.now() / 1000 - 3600;
      return { pid: p.pid, since, samples: storage.readProcessHistory(p.pid, since, p.limit) };
    },

    'monitor.job_history': (p) => {
      const storage = deps.monitoring()?.storage;
      if (!storage) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'monitor storage is not running');
      const job = store.getJob(p.job_id);
      if (!job) throw notFound(p.job_id);
      const since = p.since ?? job.started_at ?? job.submitted_at;
      return { job_id: p.job_id, since, samples: storage.readJobHistory(p.job_id, since, p.limit) };
    },

    'monitor.resource_report': (p) => {
      const storage = deps.monitoring()?.storage;
      if (!storage) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'monitor storage is not running');
      const job = store.getJob(p.job_id);
      const costs = storage.jobCosts(p.job_id);
      if (!job && costs.length === 0) throw notFound(p.job_id);
      const events = store.read(0, 10_000, { job_id: p.job_id, types: ['process.'] });
      return buildResourceReport(p.job_id, job, costs, events);
    },

    'monitor.snapshot': () => {
      const snapshot = deps.monitoring()?.profiler.latest();
      if (!snapshot) {
        const probe = deps.monitoring()?.profiler.latestProbe();
        throw new ProtocolError(
          ErrorCode.NOT_AVAILABLE,
          probe && !probe.ok ? `no snapshot: the process probe is failing (${probe.error})` : 'no snapshot has been taken yet',
        );
      }
      return snapshot;
    },

    'daemon.shutdown': (p) => {
      deps.requestShutdown(p.graceful ? 'client request' : 'client request (not graceful)');
      return { shutting_down: true };
    },

    'events.read': (p) => {
      const limit = Math.min(p.limit, deps.limits.events_read_max_limit);
      const filter = { job_id: p.job_id, types: p.types };
      const head = store.headSeq;
      const events = store.read(p.since, limit, filter);
      const full = events.length === limit;
      const next = full ? events[events.length - 1]!.seq : Math.max(p.since, head);
      return { events, next_since: next, head_seq: head, has_more: full && next < head };
    },

    'daemon.monitor.stream': (p, ctx) => {
      if (deps.shuttingDown()) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
      const q = deps.limits.subscriber_queue;
      const maxEvents = p.max_queued_events ?? q.default_events;
      const maxBytes = p.max_queued_bytes ?? q.default_bytes;
      if (maxEvents > q.max_events || maxBytes > q.max_bytes) {
        throw new ProtocolError(
          ErrorCode.INVALID_PARAMS,
          `invalid params: queue bounds above the maximum (${q.max_events} events, ${q.max_bytes} bytes)`,
          { field: maxEvents > q.max_events ? 'max_queued_events' : 'max_queued_bytes' },
        );
      }
      const id = nextSubscriptionId++;
      const sub = ctx.connection.addSubscription(
        {
          filter: { job_id: p.job_id, types: p.types },
          includeSnapshots: p.include_snapshots,
          policy: p.on_overflow,
          maxQueuedEvents: maxEvents,
          maxQueuedBytes: maxBytes,
          since: p.since,
        },
        id,
      );
      ctx.afterResponse(() => sub.start());
      return { subscription: id, head_seq: store.headSeq };
    },

    unsubscribe: (p, ctx) => {
      if (!ctx.connection.removeSubscription(p.subscription)) {
        throw new ProtocolError(ErrorCode.SUBSCRIPTION_NOT_FOUND, `no subscription ${p.subscription} on this connection`, {
          subscription: p.subscription,
        });
      }
      return { unsubscribed: true };
    },

    'job.submit': async (p) => {
      if (deps.shuttingDown()) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
      const badLabel = Object.keys(p.labels ?? {}).find((k) => !LABEL_KEY.test(k));
      if (badLabel !== undefined) {
        throw new ProtocolError(ErrorCode.INVALID_PARAMS, `invalid params: label key ${JSON.stringify(badLabel)} must match ${LABEL_KEY.source}`, {
          field: `labels.${badLabel}`,
        });
      }
      const result = await jobs.submit(p);
      // The seq of job.submitted: `subscribe({since: seq - 1, job_id})` sees the whole job.
      const submitted = store.read(0, 1, { job_id: result.job_id, types: ['job.submitted'] })[0];
      return { ...result, seq: submitted?.seq ?? store.headSeq };
    },

    'job.cancel': async (p) => {
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      if (TERMINAL_JOB_STATUSES.includes(record.status)) {
        throw new ProtocolError(ErrorCode.INVALID_STATE, `job "${p.job_id}" has already ended (${record.status})`, {
          job_id: p.job_id,
          status: record.status,
        });
      }
      return jobs.cancel(p.job_id, { reason: p.reason ?? 'cancelled by client', by: 'client' });
    },

    // Pause/resume: SIGSTOP/SIGCONT of the sheet's tree; a job in any other state is INVALID_STATE.
    'job.pause': (p) => {
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      if (TERMINAL_JOB_STATUSES.includes(record.status)) {
        throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot pause job "${p.job_id}": it is ${record.status}`, { job_id: p.job_id, status: record.status });
      }
      return jobs.pause(p.job_id, 'client');
    },

    'job.resume': (p) => {
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      if (TERMINAL_JOB_STATUSES.includes(record.status)) {
        throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot resume job "${p.job_id}": it is ${record.status}`, { job_id: p.job_id, status: record.status });
      }
      return jobs.resume(p.job_id, 'client');
    },

    // Run an ended job again under its id, from its first unfinished sheet (jobRetry.ts).
    'job.retry': (p) => {
      if (deps.shuttingDown()) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      const submitted = () => store.read(0, 1, { job_id: p.job_id, types: ['job.submitted'] })[0];
      return jobs.retry(p.job_id, planRetry(record, p.from_sheet, jobDir(deps.paths, p.job_id), submitted));
    },

    'job.get': (p) => {
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      return withCost(record);
    },

    'job.list': (p) => {
      const list = store.listJobs({ statuses: p.status, limit: p.limit });
      return { ...list, jobs: list.jobs.map(withCost) };
    },

    'job.trace': (p) => {
      if (deps.shuttingDown()) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
      if (!deps.tracer) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'syscall tracing is not available in this conductor');
      return deps.tracer.trace(p.job_id, p.seconds);
    },

    'job.clear': (p) =>
      clearJobs({ store, paths: deps.paths, storage: deps.monitoring()?.storage, log: (l) => deps.log?.(l) }, p),

    'job.logs': (p) => {
      const record = store.getJob(p.job_id);
      if (!record) throw notFound(p.job_id);
      const dir = jobDir(deps.paths, p.job_id);
      const file = path.join(dir, 'output.log');
      if (!jobLogExists(dir)) {
        return { job_id: p.job_id, path: file, size: 0, next_offset: 0, lines: [], truncated: false, status: record.status };
      }
      const { ends: _ends, ...part } = p.offset === undefined ? readJobLogTail(dir, p.tail_lines) : readJobLogFrom(dir, p.offset, p.max_bytes);
      return { job_id: p.job_id, path: file, status: record.status, ...part };
    },
    ...fleetHandlers(() => deps.fleet?.()),
  };

  if (deps.debugMethods) {
    // Appends `count` synthetic events: the way tests and benchmarks make a burst of durable
    // traffic through the real store, bus and sockets.
    handlers['debug.emit'] = async (p) => {
      const pad = 'x'.repeat(p.size);
      const appends: Array<Promise<{ event: { seq: number } }>> = [];
      // stamp: the monotonic clock (shared by every process on the machine) at the append, in
      // ns, so a benchmark can time append → decoded without the request's own trip.
      const data = (i: number) => (p.stamp ? { i, pad, mono_ns: Number(process.hrtime.bigint()) } : { i, pad });
      for (let i = 0; i < p.count; i++) appends.push(store.append({ type: p.type, data: data(i) }));
      const done = await Promise.all(appends);
      return { first_seq: done[0]?.event.seq ?? null, last_seq: done.at(-1)?.event.seq ?? null };
    };
  }

  let nextSubscriptionId = 1;
  const methods = Object.keys(handlers);

  const dispatch: Dispatch = (method, params, ctx) => {
    // Own keys only: "constructor" or "toString" are not methods.
    const handler = Object.hasOwn(handlers, method) ? (handlers as Record<string, (p: unknown, c: RequestContext) => unknown>)[method] : undefined;
    if (!handler) {
      throw new ProtocolError(ErrorCode.METHOD_NOT_FOUND, `unknown method "${method}"`, { method });
    }
    const checked = validateParams(method, params);
    if (!checked.ok) {
      throw new ProtocolError(ErrorCode.INVALID_PARAMS, checked.message, { field: checked.field });
    }
    const outcome = handler(checked.value, ctx);
    // A failed commit is a clear, stable error for the caller, not an internal one.
    if (outcome instanceof Promise) {
      return outcome.catch((err: unknown) => {
        if (err instanceof StorageError) throw new ProtocolError(ErrorCode.STORAGE_UNAVAILABLE, err.message);
        throw err;
      });
    }
    return outcome;
  };

  return { dispatch, methods };
}
