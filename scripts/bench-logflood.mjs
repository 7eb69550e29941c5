#!/usr/bin/env node
// A job flooding its log, each row against a baseline measured in the same run (npm run build first):
//   ping p99 while one job floods its log   a second client's `ping` round trips while a `yes`
//                                           job writes as fast as it can, vs the idle ping (same
//                                           conductor, no job) — the ratio is the row's figure
//   log bytes per byte written              `yes | head -c N`: bytes on disk / N
//   tail of long lines                      job.logs tail_lines=10000 over 300 lines of 64 KiB,
//                                           and another client's ping during it
// Usage: node scripts/bench-logflood.mjs [--seconds 5] [--runs 3]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, opt, percentile, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';

const SECONDS = opt('seconds', 5);
const RUNS = opt('runs', 3);
const CAP = 256 * 1024 * 1024;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x) => x.toFixed(2);

/** Ping round trips (ms) for `seconds`, one every 5 ms, as any client would see them. */
async function pings(client, seconds) {
  const out = [];
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint();
    await client.call('ping', {});
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sleep(5);
  }
  return out;
}

async function waitEnd(client, jobId) {
  for (;;) {
    const job = await client.call('job.get', { job_id: jobId });
    if (!['queued', 'running'].includes(job.status)) return job;
    await sleep(50);
  }
}

const jobBytes = (home, id) => fs.readdirSync(path.join(home, 'jobs', id)).reduce((n, f) => n + fs.statSync(path.join(home, 'jobs', id, f)).size, 0);

const idle = [];
const flood = [];
const ratios = [];
const floodRates = [];
const tails = [];
const tailPings = [];
for (let run = 0; run < RUNS; run++) {
  const home = tmp();
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, max_log_bytes_per_job: CAP, kill_grace_seconds: 1 }));
  const c = await startConductor(home);
  const client = await DaemonClient.connect({ socketPath: c.socketPath });
  const other = await DaemonClient.connect({ socketPath: c.socketPath });
  await pings(other, 0.5); // warm-up
  idle.push(percentile(await pings(other, SECONDS), 99));

  // Flood: `yes` until cancelled; the pings start once it is well under way.
  const { job_id } = await client.call('job.submit', { sheets: [{ argv: ['yes'] }] });
  await sleep(500);
  const before = (await client.call('job.logs', { job_id, tail_lines: 0 })).size;
  const t0 = Date.now();
  flood.push(percentile(await pings(other, SECONDS), 99));
  const after = (await client.call('job.logs', { job_id, tail_lines: 0 })).size;
  floodRates.push((after - before) / ((Date.now() - t0) / 1000) / 1e6);
  await client.call('job.cancel', { job_id });

  // Amplification: a bounded yes-style flood, all of it kept.
  const N = 100_000_000;
  const amp = await client.call('job.submit', { sheets: [{ argv: ['sh', '-c', `yes | head -c ${N}`] }] });
  await waitEnd(client, amp.job_id);
  ratios.push(jobBytes(home, amp.job_id) / N);

  // Tail of long lines.
  const script = "const l = 'x'.repeat(65535) + '\\n'; for (let i = 0; i < 300; i++) process.stdout.write(l);";
  const long = await client.call('job.submit', { sheets: [{ argv: [process.execPath, '-e', script] }] });
  await waitEnd(client, long.job_id);
  const pinging = pings(other, 1);
  const t1 = process.hrtime.bigint();
  await client.call('job.logs', { job_id: long.job_id, tail_lines: 10000 });
  tails.push(Number(process.hrtime.bigint() - t1) / 1e6);
  tailPings.push(Math.max(...(await pinging)));

  await client.close();
  await other.close();
  await c.stop();
  fs.rmSync(home, { recursive: true, force: true });
}

const runs = (xs) => xs.map(fmt).join('/');
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; medians of ${RUNS} runs, ${SECONDS} s of pings each`);
console.log('| row | median | ratio |');
console.log('|---|---|---|');
console.log(`| ping p99, idle conductor (baseline; runs ${runs(idle)}) | ${fmt(median(idle))} ms | 1.00 |`);
console.log(`| ping p99 while one job floods its log (runs ${runs(flood)}; the job wrote ${fmt(median(floodRates))} MB/s) | ${fmt(median(flood))} ms | ${fmt(median(flood) / median(idle))} |`);
console.log(`| log bytes per byte written, yes | head -c 100 MB (runs ${ratios.map((r) => r.toFixed(3)).join('/')}) | ${median(ratios).toFixed(3)} | - |`);
console.log(`| job.logs tail_lines=10000 over 300 lines of 64 KiB (runs ${runs(tails)}); another client's slowest ping meanwhile ${fmt(median(tailPings))} ms | ${fmt(median(tails))} ms | - |`);
