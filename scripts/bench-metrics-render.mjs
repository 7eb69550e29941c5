#!/usr/bin/env node
// CPU of building one /metrics answer without the socket (npm run build first): the route is
// called with a stub bridge that answers at once with fixed data — 1,000 jobs (5 running with a
// cost, 995 ended), a snapshot, a status with a fleet part, 50 resource reports — so only the
// route's own work (prom-client registry, formatting) is measured. `--root DIR` picks another
// build of the project (e.g. an older commit built elsewhere) for a before/after.
// Usage: node scripts/bench-metrics-render.mjs [--root DIR] [--scrapes 2000]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { opt, root as here } from './benchKit.mjs';

const args = process.argv.slice(2);
const root = args.includes('--root') ? path.resolve(args[args.indexOf('--root') + 1]) : here;
const SCRAPES = opt('scrapes', 2000);
const { metrics } = await import(pathToFileURL(path.join(root, 'dist/dashboard/routes/metrics.js')).href);

const cost = (i) => ({ cpu_seconds: i * 1.5, rss_mb: 40 + i, cpu_percent: 12.5, processes: 3 });
const jobs = Array.from({ length: 1000 }, (_, i) => ({
  job_id: `j${String(i).padStart(6, '0')}`,
  name: `job-${i}`,
  status: i < 5 ? 'running' : i % 7 === 0 ? 'failed' : 'completed',
  cost: cost(i),
}));
const answers = {
  'daemon.status': { head_seq: 123456, subscriptions: 3, connections: 4, uptime_seconds: 3600, fleet: { host: 'a', nats_url: 'nats://x', connected: true, export: { exported_seq: 123400, lag_events: 56, lag_bytes: 9000, published_total: 123400 } } },
  'job.list': { jobs, total: jobs.length },
  'monitor.snapshot': { pressure_level: 'none', conductor: { rss_mb: 70, cpu_percent: 1.2 }, processes: new Array(20).fill({}), zombie_count: 0, system_memory_used_mb: 8000, system_memory_total_mb: 24000, load_avg_1: 1.5, running_jobs: 5 },
  'monitor.resource_report': { peak_rss_mb: 100, total_cpu_seconds: 10 },
};
const ctx = {
  bridge: { connected: true, eventsPerSecond: () => 10, call: async (m) => answers[m] },
  sseClients: () => 0,
  processMetrics: !args.includes("--no-process"),
};
let bytes = 0;
const res = { writeHead() {}, end(body) { bytes = Buffer.byteLength(body); } };
for (let i = 0; i < 50; i++) await metrics(ctx, { res }); // warm-up (and the lazy import)
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < SCRAPES; i++) await metrics(ctx, { res });
const wall = Number(process.hrtime.bigint() - t0) / 1e6 / SCRAPES;
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ root, scrapes: SCRAPES, cpu_ms_per_render: Number(((c.user + c.system) / 1000 / SCRAPES).toFixed(3)), wall_ms_per_render: Number(wall.toFixed(3)), body_bytes: bytes }));
