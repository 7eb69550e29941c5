#!/usr/bin/env node
// Cost of /metrics (npm run build first). A conductor with its dashboard on (port 0, a fixed
// token) runs --jobs short jobs (ended, so job.list and the per-job series have rows) and
// --running jobs that sleep. Then:
//   idle CPU   conductor CPU (utime+stime from /proc/PID/stat) over --idle s with no client,
//              in percent of one core: what the metrics code costs when nobody scrapes
//   scrape     --scrapes GETs of /metrics one after the other: wall ms per scrape (p50, p99)
//              and conductor CPU ms per scrape; body bytes and series count
// Usage: node scripts/bench-metrics.mjs [--jobs 50] [--running 5] [--scrapes 200] [--idle 20]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, opt, percentile, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';

const JOBS = opt('jobs', 50);
const RUNNING = opt('running', 5);
const SCRAPES = opt('scrapes', 200);
const IDLE_S = opt('idle', 20);
const TOKEN = 'bench-metrics-token-0123456789';

const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime+stime in clock ticks (100 Hz)
};

const get = (url) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-metrics-'));
fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: true, dashboard_port: 0, dashboard_token: TOKEN }));
const conductor = await startConductor(home);
const pid = conductor.proc.pid;
const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
try {
  const ids = [];
  for (let i = 0; i < JOBS; i++) ids.push((await client.call('job.submit', { name: `done-${i}`, sheets: [{ argv: ['true'] }] })).job_id);
  for (let i = 0; i < RUNNING; i++) await client.call('job.submit', { name: `sleeper-${i}`, sheets: [{ argv: ['sleep', '600'] }] });
  for (const id of ids) {
    while (['queued', 'running'].includes((await client.call('job.get', { job_id: id })).status)) await sleep(50);
  }
  const status = await client.call('daemon.status', {});
  const base = new URL(status.dashboard_url).origin;
  await client.close();
  await sleep(3000); // let start-up work settle

  const idle0 = cpuMs(pid);
  await sleep(IDLE_S * 1000);
  const idlePct = ((cpuMs(pid) - idle0) / (IDLE_S * 1000)) * 100;

  const first = await get(`${base}/metrics`);
  if (first.status !== 200) throw new Error(`/metrics answered ${first.status}`);
  const walls = [];
  const c0 = cpuMs(pid);
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = process.hrtime.bigint();
    await get(`${base}/metrics`);
    walls.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpuPerScrape = (cpuMs(pid) - c0) / SCRAPES;
  const series = first.body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(
    JSON.stringify({
      jobs: JOBS,
      running: RUNNING,
      idle_cpu_percent: Number(idlePct.toFixed(3)),
      scrape_ms_p50: Number(median(walls).toFixed(2)),
      scrape_ms_p99: Number(percentile(walls, 99).toFixed(2)),
      conductor_cpu_ms_per_scrape: Number(cpuPerScrape.toFixed(2)),
      body_bytes: Buffer.byteLength(first.body),
      series,
    }),
  );
} finally {
  await conductor.stop();
  fs.rmSync(home, { recursive: true, force: true });
}
