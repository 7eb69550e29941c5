/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4), so an existing
 * Prometheus + Grafana can watch a fleet of conductors. Values come from the conductor's own
 * answers (daemon.status, job.list, monitor.snapshot, monitor.resource_report) at scrape
 * time; only the dashboard's own gauges are local.
 */
import { ACTIVE_JOB_STATUSES, TERMINAL_JOB_STATUSES, type JobRecord } from '../../events/jobRecord.js';
import { PRESSURE_LEVELS } from '../../monitor/pressure.js';
import type { CostFigures, SystemSnapshot } from '../../monitor/snapshot.js';
import type { RouteContext, RouteRequest } from '../context.js';

const JOB_STATES = [...ACTIVE_JOB_STATUSES, ...TERMINAL_JOB_STATUSES];
/** Jobs whose peak RSS is exported: the most recent ones (a scrape must stay cheap). */
const PEAK_RSS_JOBS = 50;

class Exposition {
  private readonly out: string[] = [];

  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number | null | undefined]>): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',');
      this.out.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  }

  text(): string {
    return `${this.out.join('\n')}\n`;
  }
}

type CostedJob = JobRecord & { cost?: (CostFigures & { sheets?: unknown }) | null };

/**
 * Per-job cost from job.list's `cost` (the one definition every surface reads): CPU seconds as
 * a counter for every active job and the most recent ended ones (their final figure), RSS and
 * CPU% as gauges for active jobs only — an ended or cleared job's gauges disappear with it, and
 * a cleared job leaves job.list, so its counter goes too.
 */
function costMetrics(m: Exposition, jobs: readonly CostedJob[]): void {
  const active = (j: JobRecord) => j.status === 'running' || j.status === 'paused';
  const shown = jobs.filter((j, i) => j.cost && (active(j) || i < PEAK_RSS_JOBS));
  const labels = (j: JobRecord) => ({ job_id: j.job_id, name: j.name });
  m.metric(
    'mzt_job_cpu_seconds_total',
    'counter',
    `CPU seconds used by a job's process tree, exited processes included (active jobs, and the ${PEAK_RSS_JOBS} most recent ended ones).`,
    shown.map((j) => [labels(j), j.cost!.cpu_seconds]),
  );
  const live = shown.filter(active);
  m.metric('mzt_job_rss_bytes', 'gauge', "Resident memory of a running or paused job's process tree now.", live.map((j) => [labels(j), Math.round(j.cost!.rss_mb * 1048576)]));
  m.metric('mzt_job_cpu_percent', 'gauge', "CPU use of a running job's process tree now, percent of one core.", live.map((j) => [labels(j), j.cost!.cpu_percent]));
  m.metric('mzt_job_processes', 'gauge', "Live processes of a running or paused job's tree.", live.map((j) => [labels(j), j.cost!.processes]));
}

export async function metrics(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const m = new Exposition();
  const up = ctx.bridge.connected;
  m.metric('mzt_up', 'gauge', 'Whether the dashboard reaches the conductor (1) or not (0).', [[{}, up ? 1 : 0]]);
  m.metric('mzt_dashboard_sse_clients', 'gauge', 'Open Server-Sent Events streams of this dashboard.', [[{}, ctx.sseClients()]]);
  m.metric('mzt_dashboard_events_per_second', 'gauge', 'Durable events received by the dashboard bridge per second (10 s average).', [
    [{}, Math.round(ctx.bridge.eventsPerSecond() * 100) / 100],
  ]);
  if (up) {
    const [status, jobs, snapshot] = await Promise.all([
      ctx.bridge.call<Record<string, any>>('daemon.status').catch(() => undefined),
      ctx.bridge.call<{ jobs: CostedJob[]; total: number }>('job.list', { limit: 1000 }).catch(() => undefined),
      ctx.bridge.call<SystemSnapshot>('monitor.snapshot').catch(() => undefined),
    ]);
    if (status) {
      m.metric('mzt_events_total', 'counter', 'Durable events committed (the head seq of the event log).', [[{}, status.head_seq]]);
      m.metric('mzt_subscriptions', 'gauge', 'Stream subscriptions open on the conductor socket.', [[{}, status.subscriptions]]);
      m.metric('mzt_connections', 'gauge', 'Connections open on the conductor socket.', [[{}, status.connections]]);
      m.metric('mzt_uptime_seconds', 'gauge', 'Seconds since the conductor started.', [[{}, status.uptime_seconds]]);
    }
    if (jobs) {
      const counts = new Map<string, number>(JOB_STATES.map((s) => [s, 0]));
      for (const j of jobs.jobs) counts.set(j.status, (counts.get(j.status) ?? 0) + 1);
      m.metric(
        'mzt_jobs',
        'gauge',
        'Jobs by state (among the 1000 most recent).',
        [...counts].map(([state, n]) => [{ state }, n]),
      );
      const recent = jobs.jobs.slice(0, PEAK_RSS_JOBS);
      const reports = await Promise.all(
        recent.map((j) =>
          ctx.bridge.call<{ peak_rss_mb: number; total_cpu_seconds: number }>('monitor.resource_report', { job_id: j.job_id }).catch(() => undefined),
        ),
      );
      const peak: Array<[Record<string, string>, number | undefined]> = [];
      const cpu: Array<[Record<string, string>, number | undefined]> = [];
      recent.forEach((j, i) => {
        peak.push([{ job_id: j.job_id, name: j.name }, reports[i]?.peak_rss_mb]);
        cpu.push([{ job_id: j.job_id, name: j.name }, reports[i]?.total_cpu_seconds]);
      });
      m.metric('mzt_job_peak_rss_megabytes', 'gauge', `Peak resident memory of a job's process tree (the ${PEAK_RSS_JOBS} most recent jobs).`, peak);
      m.metric('mzt_job_cpu_seconds', 'gauge', `CPU seconds used by a job's processes, exited ones included (the ${PEAK_RSS_JOBS} most recent jobs; prefer mzt_job_cpu_seconds_total).`, cpu);
      costMetrics(m, jobs.jobs);
    }
    if (snapshot) {
      m.metric(
        'mzt_pressure_level',
        'gauge',
        'Resource pressure: 0 none, 1 low, 2 medium, 3 high, 4 critical.',
        [[{ level: snapshot.pressure_level }, PRESSURE_LEVELS.indexOf(snapshot.pressure_level)]],
      );
      m.metric('mzt_conductor_rss_megabytes', 'gauge', 'Resident memory of the conductor process.', [[{}, snapshot.conductor?.rss_mb ?? snapshot.daemon_rss_mb]]);
      m.metric('mzt_conductor_cpu_percent', 'gauge', 'CPU use of the conductor process, percent of one core.', [[{}, snapshot.conductor?.cpu_percent ?? snapshot.daemon_cpu_percent]]);
      m.metric('mzt_processes', 'gauge', "Processes in the conductor's tree.", [[{}, snapshot.processes.length]]);
      m.metric('mzt_zombies', 'gauge', 'Zombie processes among the descendants.', [[{}, snapshot.zombie_count]]);
      m.metric('mzt_system_memory_used_megabytes', 'gauge', 'Memory used on the host.', [[{}, snapshot.system_memory_used_mb]]);
      m.metric('mzt_system_memory_total_megabytes', 'gauge', 'Memory of the host.', [[{}, snapshot.system_memory_total_mb]]);
      m.metric('mzt_load_average_1m', 'gauge', 'Host load average over 1 minute.', [[{}, snapshot.load_avg_1]]);
      m.metric('mzt_running_jobs', 'gauge', 'Running jobs at the last snapshot.', [[{}, snapshot.running_jobs]]);
    }
  }
  const body = m.text();
  r.res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  r.res.end(body);
}
