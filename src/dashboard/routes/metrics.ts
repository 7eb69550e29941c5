/**
 * GET /metrics in the Prometheus text format, so an existing Prometheus + Grafana can watch a
 * fleet of conductors (docs/fleet/). Values come from the conductor's own answers
 * (daemon.status, job.list, monitor.snapshot: three calls a scrape, however many jobs) at
 * scrape time; only the dashboard's own gauges and the process defaults (exposition.ts) are local.
 *
 * Naming follows Prometheus: base units (bytes, seconds), `_total` for counters, a counter for
 * anything that only grows (CPU seconds), gauges for what is true now.
 */
import { ACTIVE_JOB_STATUSES, TERMINAL_JOB_STATUSES, type JobRecord } from '../../events/jobRecord.js';
import { PRESSURE_LEVELS } from '../../monitor/pressure.js';
import type { CostFigures, SystemSnapshot } from '../../monitor/snapshot.js';
import type { FleetStatus } from '../../fleet/index.js';
import type { RouteContext, RouteRequest } from '../context.js';
import type { Labels, Scrape } from '../metrics/exposition.js';

const JOB_STATES = [...ACTIVE_JOB_STATUSES, ...TERMINAL_JOB_STATUSES];
/** Ended jobs whose peak RSS and CPU total are exported: the most recent ones (a scrape must stay small). */
const RECENT_JOBS = 50;
const MB = 1048576;

type CostedJob = JobRecord & { cost?: (CostFigures & { sheets?: unknown }) | null };
const mb = (v: number | null | undefined) => (typeof v === 'number' ? Math.round(v * MB) : undefined);

/**
 * Per-job cost from job.list's `cost` (the one definition every surface reads): CPU seconds as
 * a counter and peak RSS as a gauge for every active job and the most recent ended ones (their
 * final figures), RSS and CPU% as gauges for active jobs only — an ended or cleared job's live
 * gauges disappear with it, and a cleared job leaves job.list, so its counter goes too. A job
 * with no cost yet (queued, or not sampled) has no series rather than a made-up 0.
 */
function costMetrics(m: Scrape, jobs: readonly CostedJob[]): void {
  const active = (j: JobRecord) => j.status === 'running' || j.status === 'paused';
  // job.list is newest first: every active job, then the most recent ended ones.
  const costed = jobs.filter((j) => j.cost);
  const shown = [...costed.filter(active), ...costed.filter((j) => !active(j)).slice(0, RECENT_JOBS)];
  const labels = (j: JobRecord): Labels => ({ job_id: j.job_id, name: j.name });
  m.counter(
    'mzt_job_cpu_seconds_total',
    `CPU seconds used by a job's process tree, exited processes included (active jobs, and the ${RECENT_JOBS} most recent ended ones).`,
    shown.map((j) => [labels(j), j.cost!.cpu_seconds]),
  );
  m.gauge(
    'mzt_job_peak_rss_bytes',
    `Peak resident memory of a job's process tree (active jobs, and the ${RECENT_JOBS} most recent ended ones).`,
    shown.map((j) => [labels(j), mb(j.cost!.peak_rss_mb)]),
  );
  const live = shown.filter(active);
  m.gauge('mzt_job_rss_bytes', "Resident memory of a running or paused job's process tree now.", live.map((j) => [labels(j), mb(j.cost!.rss_mb)]));
  m.gauge('mzt_job_cpu_percent', "CPU use of a running job's process tree now, percent of one core (rate(mzt_job_cpu_seconds_total) is the same over a window).", live.map((j) => [labels(j), j.cost!.cpu_percent]));
  m.gauge('mzt_job_processes', "Live processes of a running or paused job's tree.", live.map((j) => [labels(j), j.cost!.processes]));
}

/** The export of this conductor's events to the fleet's JetStream stream (config `fleet`). */
function fleetMetrics(m: Scrape, fleet: FleetStatus): void {
  m.gauge('mzt_fleet_info', "This conductor's host name in the fleet (value 1).", [[{ host: fleet.host }, 1]]);
  m.gauge('mzt_fleet_connected', 'Whether the fleet export reaches NATS (1) or not (0).', [[{}, fleet.connected ? 1 : 0]]);
  m.gauge('mzt_fleet_exported_seq', 'Highest local event seq the fleet stream holds for this host.', [[{}, fleet.export.exported_seq]]);
  m.gauge('mzt_fleet_export_lag_events', 'Durable events not yet exported to the fleet stream.', [[{}, fleet.export.lag_events]]);
  m.gauge(
    'mzt_fleet_export_lag_bytes',
    'Payload bytes of the events not yet exported (counted over at most the first 100000 of them).',
    [[{}, fleet.export.lag_bytes]],
  );
  m.counter('mzt_fleet_published_events_total', 'Events this conductor published to the fleet stream since it started.', [[{}, fleet.export.published_total]]);
}

function snapshotMetrics(m: Scrape, s: SystemSnapshot): void {
  m.gauge('mzt_pressure_level', 'Resource pressure: 0 none, 1 low, 2 medium, 3 high, 4 critical.', [[{ level: s.pressure_level }, PRESSURE_LEVELS.indexOf(s.pressure_level)]]);
  m.gauge('mzt_conductor_rss_bytes', 'Resident memory of the conductor process (sampled by its profiler).', [[{}, mb(s.conductor?.rss_mb ?? s.daemon_rss_mb)]]);
  m.gauge('mzt_conductor_cpu_percent', 'CPU use of the conductor process, percent of one core (sampled by its profiler).', [[{}, s.conductor?.cpu_percent ?? s.daemon_cpu_percent]]);
  m.gauge('mzt_processes', "Processes in the conductor's tree.", [[{}, s.processes.length]]);
  m.gauge('mzt_zombies', 'Zombie processes among the descendants.', [[{}, s.zombie_count]]);
  m.gauge('mzt_system_memory_used_bytes', 'Memory used on the host.', [[{}, mb(s.system_memory_used_mb)]]);
  m.gauge('mzt_system_memory_total_bytes', 'Memory of the host.', [[{}, mb(s.system_memory_total_mb)]]);
  m.gauge('mzt_load_average_1m', 'Host load average over 1 minute.', [[{}, s.load_avg_1]]);
  m.gauge('mzt_running_jobs', 'Running jobs at the last snapshot.', [[{}, s.running_jobs]]);
}

export async function metrics(ctx: RouteContext, r: RouteRequest): Promise<void> {
  // prom-client (and its @opentelemetry/api) add ~10 MB of RSS and the default metrics a timer:
  // loaded at the first scrape, so a conductor nobody scrapes pays for neither.
  const { Scrape, CONTENT_TYPE } = await import('../metrics/exposition.js');
  const m = new Scrape();
  const up = ctx.bridge.connected;
  m.gauge('mzt_up', 'Whether the dashboard reaches the conductor (1) or not (0).', [[{}, up ? 1 : 0]]);
  m.gauge('mzt_dashboard_sse_clients', 'Open Server-Sent Events streams of this dashboard.', [[{}, ctx.sseClients()]]);
  m.gauge('mzt_dashboard_events_per_second', 'Durable events received by the dashboard bridge per second (10 s average).', [
    [{}, Math.round(ctx.bridge.eventsPerSecond() * 100) / 100],
  ]);
  if (up) {
    const [status, jobs, snapshot] = await Promise.all([
      ctx.bridge.call<Record<string, any>>('daemon.status').catch(() => undefined),
      ctx.bridge.call<{ jobs: CostedJob[]; total: number }>('job.list', { limit: 1000 }).catch(() => undefined),
      ctx.bridge.call<SystemSnapshot>('monitor.snapshot').catch(() => undefined),
    ]);
    if (status) {
      m.counter('mzt_events_total', 'Durable events committed (the head seq of the event log).', [[{}, status.head_seq]]);
      m.gauge('mzt_subscriptions', 'Stream subscriptions open on the conductor socket.', [[{}, status.subscriptions]]);
      m.gauge('mzt_connections', 'Connections open on the conductor socket.', [[{}, status.connections]]);
      m.gauge('mzt_uptime_seconds', 'Seconds since the conductor started.', [[{}, status.uptime_seconds]]);
      if (status.fleet) fleetMetrics(m, status.fleet as FleetStatus);
    }
    if (jobs) {
      const counts = new Map<string, number>(JOB_STATES.map((s) => [s, 0]));
      for (const j of jobs.jobs) counts.set(j.status, (counts.get(j.status) ?? 0) + 1);
      m.gauge('mzt_jobs', 'Jobs by state (among the 1000 most recent).', [...counts].map(([state, n]) => [{ state }, n]));
      costMetrics(m, jobs.jobs);
    }
    if (snapshot) snapshotMetrics(m, snapshot);
  }
  const body = await m.text(ctx.processMetrics);
  r.res.writeHead(200, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  r.res.end(body);
}
