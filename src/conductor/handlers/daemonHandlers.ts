/**
 * The methods about the conductor itself: the handshake, liveness and readiness, its status,
 * its running config, and a shutdown on request.
 */
import { ErrorCode, PROTOCOL_VERSION, ProtocolError } from '../../ipc/messages.js';
import type { Handlers } from '../../ipc/methodTable.js';
import { uptimeSeconds, type MethodDeps } from './methodDeps.js';

type DaemonMethod = 'hello' | 'ping' | 'daemon.status' | 'daemon.config' | 'daemon.health' | 'daemon.shutdown';

/** `methods`: every method this conductor serves (hello lists them). */
export function daemonHandlers(deps: MethodDeps, methods: () => string[]): Pick<Handlers, DaemonMethod> {
  const { store, jobs } = deps;
  return {
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
        methods: methods(),
        limits: deps.limits,
      };
    },

    ping: () => ({ pong: true, ts: Date.now() / 1000 }),

    'daemon.status': () => {
      const stats = deps.serverStats();
      return {
        pid: process.pid,
        server_version: deps.version,
        uptime_seconds: uptimeSeconds(deps),
        started_at: deps.startedAt,
        running_jobs: jobs.runningCount,
        queued_jobs: jobs.queuedCount,
        paused_jobs: jobs.pausedCount,
        pending_jobs: jobs.pendingCount,
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

    // The values in force; the dashboard token is a secret (the socket is owner-only, but configs get pasted around).
    'daemon.config': () => ({
      ...deps.config(),
      ...(deps.config().dashboard_token ? { dashboard_token: '<set>' } : {}),
      pending_restart: deps.pendingRestart?.() ?? [],
    }),

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
        uptime_seconds: uptimeSeconds(deps),
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

    'daemon.shutdown': (p) => {
      deps.requestShutdown(p.graceful ? 'client request' : 'client request (not graceful)');
      return { shutting_down: true };
    },
  };
}
