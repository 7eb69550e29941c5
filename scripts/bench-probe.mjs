#!/usr/bin/env node
// Cost of one process-tree sample: the /proc SystemProbe against systeminformation's
// processes() (the baseline), measured in the same run with 50 and 200 `sleep` children.
//
//   node scripts/bench-probe.mjs [--samples 30] [--si-samples 5] [--children 50,200] [--conductor-processes 200] [--conductor-seconds 20]
//
// Columns:
//   median/p99/max ms   wall time of one sample; for /proc it is all synchronous, so max is
//                       the worst event-loop block
//   cpu ms/sample       this process's CPU (process.cpuUsage) + the CPU of subprocesses it
//                       reaped during the sample (its own cutime+cstime growth: si shells out)
//   %core @1Hz          cpu ms/sample ÷ 1000 ms × 100: the share of one core a 1 Hz sampler costs
//   x si                the baseline's median (or CPU) divided by this row's
//
// Then the per-job cost aggregation (issue 14): the children tagged as 4 jobs, each sample
// timed without it (the probe alone) and with it (probe + JobCostAggregator.aggregate on that
// sample's result), same run, same samples; medians and their ratio (must stay under 1.10).
//
// Then the conductor itself (it samples on its own thread, spread over event-loop turns): a job
// whose sheet holds N-1 `sleep`s (tree N+1 with the conductor), sampled at 1 Hz for
// --conductor-seconds; from its snapshots the sample cost and longest synchronous stretch, the
// event-loop delay p99/max the profiler measures between samples, and the conductor's whole CPU
// (/proc/<pid>/stat) against the same window without the job. SHOWLOG=1 prints the conductor's
// log of the measured window (a heap release or a GPU probe message there explains a stall).
// Needs the build (`npm run build`: it imports dist/).
import { spawn } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import si from 'systeminformation';
import { SystemProbe } from '../dist/probe/systemProbe.js';
import { JobCostAggregator } from '../dist/monitor/jobCosts.js';
import { DaemonClient } from '../dist/index.js';
import { startConductor } from './benchKit.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SAMPLES = Number(opt('samples', '30'));
const SI_SAMPLES = Number(opt('si-samples', '5'));
const CHILD_COUNTS = opt('children', '50,200').split(',').map(Number).filter((n) => n > 0); // --children 0: only the conductor
const CONDUCTOR_PROCESSES = Number(opt('conductor-processes', '200'));
const CONDUCTOR_SECONDS = Number(opt('conductor-seconds', '20'));

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const p99 = (xs) => sorted(xs)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)];
const max = (xs) => Math.max(...xs);

/** CPU ms of this process plus the children it reaped (cutime+cstime, in 1/100 s ticks). */
function cpuMsNow() {
  const usage = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const childTicks = Number(fields[16 - 3]) + Number(fields[17 - 3]);
  return (usage.user + usage.system) / 1000 + childTicks * 10;
}

/** Times `fn` `count` times, `gapMs` apart (the gap is not measured). */
async function measure(count, gapMs, fn) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < count; i++) {
    const cpuBefore = cpuMsNow();
    const start = performance.now();
    await fn();
    wall.push(performance.now() - start);
    cpu.push(cpuMsNow() - cpuBefore);
    if (gapMs > 0) await sleep(gapMs);
  }
  return { median: median(wall), p99: p99(wall), max: max(wall), cpuMs: median(cpu) };
}

function spawnSleeps(count) {
  const children = [];
  for (let i = 0; i < count; i++) children.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
  return children;
}

async function killAll(children) {
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGKILL');
        }),
    ),
  );
}

async function waitForChildren(probe, count) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const sample = await probe.sample(process.pid);
    if (!sample.ok) throw new Error(`probe failed: ${sample.error}`);
    if (sample.processes.filter((p) => p.command === 'sleep 600').length >= count) return sample.processes.length;
    if (Date.now() > deadline) throw new Error(`only some of the ${count} children showed up`);
    await sleep(50);
  }
}

const rows = [];
const costRows = [];
const allChildren = [];
process.on('SIGINT', () => killAll(allChildren).then(() => process.exit(130)));
try {
  for (const count of CHILD_COUNTS) {
    const children = spawnSleeps(count);
    allChildren.push(...children);
    const probe = new SystemProbe({ source: 'proc' });
    const treeSize = await waitForChildren(probe, count);
    const machineSize = (await si.processes()).all;

    // /proc probe, fd counts spread (default: 64 processes per sample), then all fds every sample.
    const spread = await measure(SAMPLES, 20, () => probe.sample(process.pid));
    const allFdsProbe = new SystemProbe({ source: 'proc', fdRefreshPerSample: Infinity });
    await allFdsProbe.sample(process.pid);
    const allFds = await measure(SAMPLES, 20, () => allFdsProbe.sample(process.pid));
    // Baseline: si caches its CPU figures for 500 ms, so calls are spaced 600 ms apart.
    await si.processes();
    const baseline = await measure(SI_SAMPLES, 600, () => si.processes());

    // The per-job cost aggregation, timed on the probe's own samples (children tagged as 4 jobs).
    const jobIds = ['job-a', 'job-b', 'job-c', 'job-d'];
    const tags = new Map(children.map((c, i) => [c.pid, { job_id: jobIds[i % 4], sheet_num: 1 + (i % 2) }]));
    const tagged = new SystemProbe({ source: 'proc' });
    const aggregator = new JobCostAggregator();
    await tagged.sample(process.pid, tags);
    const without = [];
    const withAgg = [];
    const aggOnly = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      const result = await tagged.sample(process.pid, tags);
      const t1 = performance.now();
      const costs = aggregator.aggregate(result.processes, result.tag_cpu, jobIds);
      const t2 = performance.now();
      if (costs.reduce((n, c) => n + c.processes, 0) !== count) throw new Error('aggregation missed tagged children');
      without.push(t1 - t0);
      withAgg.push(t2 - t0);
      aggOnly.push(t2 - t1);
      await sleep(20);
    }
    costRows.push({ count, treeSize, without: median(without), with: median(withAgg), agg: median(aggOnly) });

    const label = `${count} children (tree ${treeSize}, machine ${machineSize})`;
    rows.push({ label, name: '/proc probe, fds spread', ...spread, baseline });
    rows.push({ label, name: '/proc probe, all fds', ...allFds, baseline });
    rows.push({ label, name: 'si.processes() (baseline)', ...baseline, baseline });
    await killAll(children);
  }
} finally {
  await killAll(allChildren);
}

const fmt = (n, digits = 1) => n.toFixed(digits).padStart(8);
console.log(`node ${process.version}, ${SAMPLES} probe samples, ${SI_SAMPLES} si samples per row\n`);
console.log(`${'case'.padEnd(44)}${'row'.padEnd(28)}  median      p99      max    cpu ms  %core@1Hz   x si(wall)  x si(cpu)`);
for (const row of rows) {
  console.log(
    `${row.label.padEnd(44)}${row.name.padEnd(28)}${fmt(row.median)} ${fmt(row.p99)} ${fmt(row.max)} ${fmt(row.cpuMs)}  ${fmt(row.cpuMs / 10, 2)}  ${fmt(row.baseline.median / row.median)}x ${fmt(row.baseline.cpuMs / row.cpuMs)}x`,
  );
}

console.log(`\nper-job cost aggregation (children tagged as 4 jobs, 2 sheets each), ${SAMPLES} samples, medians`);
for (const r of costRows) {
  console.log(
    `  ${String(r.count).padStart(4)} children (tree ${r.treeSize}): sample ${r.without.toFixed(3)} ms without, ${r.with.toFixed(3)} ms with (aggregation alone ${(r.agg * 1000).toFixed(0)} µs)  ratio ${(r.with / r.without).toFixed(3)}`,
  );
}

// --- the conductor sampling its own tree ---------------------------------------------------------

/** utime+stime of a process in ms (clock ticks of 10 ms). */
function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) * 10;
}

/** Snapshots and the conductor's CPU over `seconds` (the first snapshot of the window is skipped). */
async function watchConductor(client, pid, seconds) {
  const snapshots = [];
  const sub = client.subscribe({ include_snapshots: true, types: ['none.'] });
  const it = sub[Symbol.asyncIterator]();
  const collecting = (async () => {
    for (;;) {
      const { value, done } = await it.next();
      if (done) return;
      if (value.kind === 'event' && value.event.type === 'monitor.snapshot') snapshots.push(value.event.data);
    }
  })();
  await sleep(1500);
  const cpu0 = processCpuMs(pid);
  const t0 = performance.now();
  const from = snapshots.length;
  await sleep(seconds * 1000);
  const cpuMs = processCpuMs(pid) - cpu0;
  const wallMs = performance.now() - t0;
  const window = snapshots.slice(from);
  await sub.unsubscribe();
  await collecting.catch(() => undefined);
  return { window, corePercent: (cpuMs / wallMs) * 100 };
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-probe-'));
fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, max_processes: 100_000 }));
const conductor = await startConductor(home);
let conductorRow;
try {
  const client = await DaemonClient.connect({ socketPath: conductor.socketPath });
  const idle = await watchConductor(client, conductor.proc.pid, CONDUCTOR_SECONDS);
  const sleeps = CONDUCTOR_PROCESSES - 1;
  const { job_id } = await client.call('job.submit', {
    sheets: [{ argv: ['sh', '-c', `i=0; while [ $i -lt ${sleeps} ]; do sleep 600 & i=$((i+1)); done; wait`] }],
  });
  const deadline = Date.now() + 20_000;
  let tree = 0;
  while (Date.now() < deadline) {
    const snap = await client.call('monitor.snapshot', {}).catch(() => undefined);
    tree = snap?.processes.length ?? 0;
    if (tree >= CONDUCTOR_PROCESSES + 1) break;
    await sleep(200);
  }
  const logBefore = conductor.log().length;
  const busy = await watchConductor(client, conductor.proc.pid, CONDUCTOR_SECONDS);
  if (process.env.SHOWLOG) console.error(`--- conductor log during the measured window:\n${conductor.log().slice(logBefore)}---`);
  await client.call('job.cancel', { job_id });
  await client.close();
  const c = busy.window.map((s) => s.conductor);
  conductorRow = { tree, samples: c.length, idle: idle.corePercent, busy: busy.corePercent, cost: c.map((x) => x.sample_cost_ms), blocking: c.map((x) => x.sample_blocking_ms ?? 0), p99: c.map((x) => x.event_loop_delay_p99_ms), max: c.map((x) => x.event_loop_delay_max_ms), interval: c.at(-1)?.interval_seconds };
} finally {
  await conductor.stop();
  fs.rmSync(home, { recursive: true, force: true });
}
const r = conductorRow;
console.log(`\nconductor sampling its own tree at ${r.interval}s intervals: ${CONDUCTOR_PROCESSES} processes in its job (tree ${r.tree}), ${r.samples} snapshots over ${CONDUCTOR_SECONDS} s`);
console.log(`  sample cost (sum of its synchronous stretches)  median ${median(r.cost).toFixed(1)} ms, max ${max(r.cost).toFixed(1)} ms  = ${(median(r.cost) / 10 / r.interval).toFixed(2)}% of a core`);
console.log(`  longest synchronous stretch per sample          median ${median(r.blocking).toFixed(1)} ms, max ${max(r.blocking).toFixed(1)} ms`);
console.log(`  event-loop delay between samples                p99 median ${median(r.p99).toFixed(1)} ms, max of max ${max(r.max).toFixed(1)} ms`);
console.log(`  conductor CPU, whole process (/proc stat)       ${r.busy.toFixed(2)}% of a core with the job, ${r.idle.toFixed(2)}% without (same window length)`);
