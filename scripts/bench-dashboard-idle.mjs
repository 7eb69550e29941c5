#!/usr/bin/env node
// What the dashboard costs the conductor while no page is open: conductor CPU time for N
// committed events with the dashboard on (no page) against off, runs interleaved, medians.
//
//   node scripts/bench-dashboard-idle.mjs [--events 200000] [--runs 3]
//
// Needs `npm run build` first (it imports dist/).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, opt, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';

const N = opt('events', 200_000);
const RUNS = opt('runs', 3);
const TICKS = 100; // USER_HZ on Linux

function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
}

async function run(dashboard) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-dash-'));
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: dashboard, dashboard_port: 0 }));
  const c = await startConductor(home, { MZT_DEBUG_METHODS: '1' });
  const client = await DaemonClient.connect({ socketPath: c.socketPath });
  await new Promise((r) => setTimeout(r, 1500)); // the dashboard's bridge connects
  const before = cpuSeconds(c.proc.pid);
  for (let sent = 0; sent < N; sent += 10_000) await client.call('debug.emit', { count: Math.min(10_000, N - sent), size: 150 });
  const used = cpuSeconds(c.proc.pid) - before;
  await client.close();
  await c.stop();
  fs.rmSync(home, { recursive: true, force: true });
  return used;
}

const off = [];
const on = [];
for (let i = 0; i < RUNS; i++) {
  off.push(await run(false));
  on.push(await run(true));
}
const ms = (s) => `${Math.round(s * 1000)} ms`;
console.log(`dashboard with no page open, ${N.toLocaleString('en-US')} events x ${RUNS} runs (conductor CPU, medians)`);
console.log(`  dashboard off             ${ms(median(off))}   (runs ${off.map(ms).join(', ')})`);
console.log(`  dashboard on, no page     ${ms(median(on))} = ${(median(on) / median(off)).toFixed(2)}x   (runs ${on.map(ms).join(', ')}; target <= 1.05x)`);
