#!/usr/bin/env node
// Conductor memory (npm run build first):
//   idle RSS   3 s after start, no clients: with the dashboard off (as every benchmark runs it)
//              and on (the default config; dashboard_port 0 = any free port)
//   burst      10 clients subscribe to daemon.monitor.stream (raw sockets, default bounds) and
//              stop reading; then 1M events (debug.emit, --batch per call, --size B of padding)
//              are committed. VmRSS is read from /proc every 50 ms: idle before, peak during,
//              10 s after the burst with the clients still stalled, 5 s after they leave, and
//              40 s after the burst (past the checkpoint worker's 30 s idle stop).
// Medians of --runs runs, each in a fresh home. Target (issue): peak < idle + 64 MB, back to
// (near) idle afterwards.
// Usage: node scripts/bench-memory.mjs [--events 1000000] [--batch 1000] [--size 150] [--runs 3] [--clients 10]
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, opt, rssMb, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';
import { FrameDecoder, decodeValue, encodeFrame } from '../dist/ipc/framing.js';

const EVENTS = opt('events', 1_000_000);
// 1,000 per call: debug.emit keeps every event of a call (and its promise) until the call's last
// commit, so 50,000 per call measures that pile (+225 MB peak) more than the conductor's own
// event path; producers in real use (sheets, the profiler) append as things happen.
const BATCH = Math.min(50_000, opt('batch', 1000));
const SIZE = opt('size', 150);
const RUNS = opt('runs', 3);
const CLIENTS = opt('clients', 10);
const IDLE_MS = 3000;

const tmpHome = (config) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-mem-'));
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify(config));
  return home;
};

/** A raw socket that subscribes to every `debug.` event, then stops reading. */
async function stalledClient(socketPath, since) {
  const socket = net.createConnection(socketPath);
  socket.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  let subscribed;
  const done = new Promise((resolve) => (subscribed = resolve));
  socket.on('data', (chunk) => {
    for (const frame of decoder.push(chunk)) {
      const m = decodeValue(frame);
      if (m[0] === 1 && m[1] === 1) subscribed(m);
    }
  });
  socket.write(encodeFrame([0, 1, 'daemon.monitor.stream', { since, types: ['debug.'] }]));
  const reply = await Promise.race([done, sleep(5000).then(() => undefined)]);
  if (!reply) throw new Error('no answer to daemon.monitor.stream');
  if (reply[2]) throw new Error(`subscribe failed: ${JSON.stringify(reply[2])}`);
  socket.pause();
  return socket;
}

async function idleRss(config) {
  const home = tmpHome(config);
  const c = await startConductor(home);
  try {
    await sleep(IDLE_MS);
    return rssMb(c.proc.pid);
  } finally {
    await c.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function burstRun() {
  const home = tmpHome({ dashboard_enabled: false });
  const c = await startConductor(home, { MZT_DEBUG_METHODS: '1' });
  const pid = c.proc.pid;
  try {
    await sleep(IDLE_MS);
    const idle = rssMb(pid);
    const producer = await DaemonClient.connect({ socketPath: c.socketPath });
    const { head_seq } = await producer.call('events.read', { limit: 1 });
    const stalled = [];
    for (let i = 0; i < CLIENTS; i++) stalled.push(await stalledClient(c.socketPath, head_seq));
    let peak = rssMb(pid);
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 50);
    const t0 = performance.now();
    for (let sent = 0; sent < EVENTS; sent += BATCH) {
      await producer.call('debug.emit', { count: Math.min(BATCH, EVENTS - sent), size: SIZE }, { timeoutMs: 120_000 });
    }
    const seconds = (performance.now() - t0) / 1000;
    await sleep(10_000);
    clearInterval(sampler);
    const after = rssMb(pid);
    for (const s of stalled) s.destroy();
    await producer.close();
    await sleep(5000);
    const afterLeft = rssMb(pid);
    // The checkpoint worker thread is let go after 30 s without a checkpoint (src/events/store.ts).
    await sleep(25_000);
    const settled = rssMb(pid);
    return { idle, peak, after, afterLeft, settled, seconds };
  } finally {
    await c.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const idleOff = [];
const idleOn = [];
const runs = [];
for (let r = 0; r < RUNS; r++) {
  idleOff.push(await idleRss({ dashboard_enabled: false }));
  idleOn.push(await idleRss({ dashboard_enabled: true, dashboard_port: 0 }));
  const run = await burstRun();
  runs.push(run);
  console.error(`run ${r + 1}: idle ${idleOff.at(-1).toFixed(1)} / ${idleOn.at(-1).toFixed(1)} MB (dashboard off/on); burst idle ${run.idle.toFixed(1)} → peak ${run.peak.toFixed(1)} → 10 s after ${run.after.toFixed(1)} → clients gone ${run.afterLeft.toFixed(1)} → 40 s after ${run.settled.toFixed(1)} MB; ${EVENTS.toLocaleString('en')} events in ${run.seconds.toFixed(1)} s`);
}

const m = (key) => median(runs.map((r) => r[key]));
const mb = (n) => `${n.toFixed(1)} MB`;
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; medians of ${RUNS} runs`);
console.log('| row | median | vs idle |');
console.log('|---|---|---|');
console.log(`| conductor idle RSS, dashboard off (${IDLE_MS / 1000} s after start, no clients) | ${mb(median(idleOff))} | - |`);
console.log(`| conductor idle RSS, dashboard on (default config) | ${mb(median(idleOn))} | - |`);
console.log(`| burst: idle before (dashboard off) | ${mb(m('idle'))} | - |`);
console.log(`| burst: peak while ${CLIENTS} clients stalled, ${EVENTS.toLocaleString('en')} events of ${SIZE} B (${m('seconds').toFixed(1)} s) | ${mb(m('peak'))} | +${(m('peak') - m('idle')).toFixed(1)} MB |`);
console.log(`| burst: 10 s after, clients still stalled | ${mb(m('after'))} | +${(m('after') - m('idle')).toFixed(1)} MB |`);
console.log(`| burst: 5 s after the clients left | ${mb(m('afterLeft'))} | +${(m('afterLeft') - m('idle')).toFixed(1)} MB |`);
console.log(`| burst: 40 s after the burst (checkpoint worker let go) | ${mb(m('settled'))} | +${(m('settled') - m('idle')).toFixed(1)} MB |`);
