#!/usr/bin/env node
// Fleet export against the local durable stream, measured in the same run on a real
// nats-server (Debian's 2.9, JetStream, loopback, temporary store).
//
//   node scripts/bench-fleet.mjs [--events 200000] [--runs 3] [--catchup 1000000]
//
// Rows:
//   local        debug.emit → commit → bus → socket → DaemonClient decode, no fleet (baseline)
//   local+fleet  the same with fleet export on: what export costs the local path
//   export       debug.emit → exported into the stream (exported_seq reaches head)
//   catch-up     N events committed while NATS is down, then NATS back: time until lag 0
//   submit       mzt fleet submit → job.started on one of 3 conductors (p50/p99 over --jobs)
// Needs `npm run build` first (it imports dist/) and nats-server (scripts/install-nats-server.sh).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { durableStreamRate, emitPaced, median, opt, root, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';
import { FleetClient } from '../dist/fleet/client.js';

const N = opt('events', 200_000);
const RUNS = opt('runs', 3);
const CATCHUP = opt('catchup', 1_000_000);
const JOBS = opt('jobs', 60);

execFileSync('bash', [path.join(root, 'scripts/install-nats-server.sh')], { stdio: 'inherit' });

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startNats(port, storeDir) {
  const proc = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const check = (d) => {
      out += d;
      if (/Server is ready/.test(out)) resolve();
    };
    proc.stdout.on('data', check);
    proc.stderr.on('data', check);
    proc.on('exit', () => reject(new Error(out)));
  });
  return {
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
    },
  };
}

function home(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-fleet-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ dashboard_enabled: false, ...config }));
  return dir;
}

async function exportedSeq(client) {
  const s = await client.call('daemon.status', {});
  return { exported: s.fleet.export.exported_seq, head: s.head_seq, lag: s.fleet.export.lag_events };
}

async function exportRate(socketPath) {
  const client = await DaemonClient.connect({ socketPath });
  const base = (await exportedSeq(client)).head;
  while ((await exportedSeq(client)).lag > 0) await new Promise((r) => setTimeout(r, 20));
  const start = process.hrtime.bigint();
  await emitPaced(client, N, async () => (await exportedSeq(client)).exported - base);
  while ((await exportedSeq(client)).exported < base + N) await new Promise((r) => setTimeout(r, 5));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await client.close();
  return N / secs;
}

const natsPort = await freePort();
const natsStore = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-nats-'));
let nats = await startNats(natsPort, natsStore);
const fleet = (host) => ({ fleet: { nats_url: `nats://127.0.0.1:${natsPort}`, host } });
const env = { MZT_DEBUG_METHODS: '1' };

const rows = { local: [], localFleet: [], exported: [] };
for (let run = 0; run < RUNS; run++) {
  const plain = await startConductor(home({}), env);
  rows.local.push(await durableStreamRate(plain.socketPath, N));
  await plain.stop();
  const withFleet = await startConductor(home(fleet(`bench${run}`)), env);
  rows.localFleet.push(await durableStreamRate(withFleet.socketPath, N));
  rows.exported.push(await exportRate(withFleet.socketPath));
  await withFleet.stop();
}
const local = median(rows.local);
const fmt = (x) => Math.round(x).toLocaleString('en-US');
console.log(`fleet export, ${N.toLocaleString('en-US')} events x ${RUNS} runs (medians)`);
console.log(`  local durable stream      ${fmt(local)} ev/s (baseline)`);
console.log(`  local, fleet export on    ${fmt(median(rows.localFleet))} ev/s = ${(median(rows.localFleet) / local).toFixed(2)}x`);
console.log(`  export into JetStream     ${fmt(median(rows.exported))} ev/s = ${(median(rows.exported) / local).toFixed(2)}x the local stream (goal >= 0.5x)`);

// Catch-up after an outage: NATS down while CATCHUP events are committed, then back.
const c = await startConductor(home(fleet('catchup')), env);
const client = await DaemonClient.connect({ socketPath: c.socketPath });
while ((await exportedSeq(client)).lag > 0) await new Promise((r) => setTimeout(r, 20));
await nats.stop();
for (let sent = 0; sent < CATCHUP; sent += 10_000) await client.call('debug.emit', { count: 10_000, size: 150 });
const behind = await exportedSeq(client);
const t0 = process.hrtime.bigint();
nats = await startNats(natsPort, natsStore);
// From NATS back to the first exported event (reconnect and resume), then the catch-up itself.
while ((await exportedSeq(client)).exported <= behind.exported) await new Promise((r) => setTimeout(r, 10));
const t1 = process.hrtime.bigint();
while ((await exportedSeq(client)).lag > 0) await new Promise((r) => setTimeout(r, 50));
const resumeSecs = Number(t1 - t0) / 1e9;
const catchupSecs = Number(process.hrtime.bigint() - t1) / 1e9;
console.log(`  catch-up after an outage  ${behind.lag.toLocaleString('en-US')} events: resumed ${resumeSecs.toFixed(1)} s after NATS came back, then ${catchupSecs.toFixed(1)} s = ${fmt(behind.lag / catchupSecs)} ev/s`);
await client.close();
await c.stop();

// Fleet submit → started, three conductors pulling from the queue.
const hosts = [];
for (let i = 0; i < 3; i++) hosts.push(await startConductor(home({ ...fleet(`lat${i}`), max_concurrent_jobs: 8 }), env));
const fc = await FleetClient.connect(`nats://127.0.0.1:${natsPort}`);
while ((await fc.hosts()).filter((h) => h.host.startsWith('lat')).length < 3) await new Promise((r) => setTimeout(r, 100));
const started = new Map();
const watchers = await Promise.all(
  hosts.map(async (h) => {
    const dc = await DaemonClient.connect({ socketPath: h.socketPath });
    const sub = dc.subscribe({ types: ['job.started'] });
    (async () => {
      for await (const item of sub) if (item.kind === 'event') started.set(item.event.job_id, process.hrtime.bigint());
    })();
    return dc;
  }),
);
const latencies = [];
for (let i = 0; i < JOBS; i++) {
  const id = `lat-${i}-${Date.now()}`;
  const t0 = process.hrtime.bigint();
  await fc.submit({ job_id: id, name: 'lat', sheets: [{ argv: ['true'] }] }, { from: 'bench' });
  while (!started.has(id)) await new Promise((r) => setImmediate(r));
  latencies.push(Number(started.get(id) - t0) / 1e6);
}
const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
console.log(`  fleet submit → started    p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms over ${JOBS} jobs, 3 conductors (submit acked by JetStream → job.started seen by a socket subscriber)`);
for (const dc of watchers) await dc.close();
await fc.close();
for (const h of hosts) await h.stop();
await nats.stop();
fs.rmSync(natsStore, { recursive: true, force: true });
