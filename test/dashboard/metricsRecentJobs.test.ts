/**
 * /metrics per-job series cover every active job and the 50 most recent ENDED ones, as their
 * HELP text and the README say: queued or running jobs near the top of job.list (newest first)
 * must not push ended ones out. The route is called with a bridge that answers from fixed data
 * (the selection is the route's own logic; test/dashboard/metrics.test.ts scrapes a real conductor).
 */
import { describe, expect, it } from 'vitest';
import { metrics } from '../../src/dashboard/routes/metrics.js';

const cost = { cpu_seconds: 2, rss_mb: 40, cpu_percent: 10, processes: 2, peak_rss_mb: 50 };
// Newest first: 10 queued (no cost yet), 5 running, then 60 completed.
const jobs = [
  ...Array.from({ length: 10 }, (_, i) => ({ job_id: `q${i}`, name: 'q', status: 'queued', cost: null })),
  ...Array.from({ length: 5 }, (_, i) => ({ job_id: `r${i}`, name: 'r', status: 'running', cost })),
  ...Array.from({ length: 60 }, (_, i) => ({ job_id: `c${i}`, name: 'c', status: 'completed', cost })),
];
const answers: Record<string, unknown> = {
  'daemon.status': { head_seq: 1, subscriptions: 0, connections: 1, uptime_seconds: 1 },
  'job.list': { jobs, total: jobs.length },
  'monitor.snapshot': { pressure_level: 'none', conductor: { rss_mb: 60, cpu_percent: 1 }, processes: [], zombie_count: 0, system_memory_used_mb: 1, system_memory_total_mb: 2, load_avg_1: 0, running_jobs: 5 },
};

describe('/metrics per-job series', () => {
  it('are every active job and the 50 most recent ended ones', async () => {
    let body = '';
    const ctx = { bridge: { connected: true, eventsPerSecond: () => 0, call: async (m: string) => answers[m] }, sseClients: () => 0, processMetrics: false };
    await metrics(ctx as never, { res: { writeHead() {}, end(b: string) { body = b; } } } as never);
    const ids = [...body.matchAll(/^mzt_job_peak_rss_bytes\{job_id="([^"]+)"/gm)].map((m) => m[1]);
    expect(ids.filter((id) => id.startsWith('r'))).toHaveLength(5);
    expect(ids.filter((id) => id.startsWith('c'))).toEqual(Array.from({ length: 50 }, (_, i) => `c${i}`));
    expect(ids.filter((id) => id.startsWith('q'))).toEqual([]);
  });
});
