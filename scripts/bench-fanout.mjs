#!/usr/bin/env node
// Fan-out: total events/s delivered by one conductor to 1, 10 and 100 live subscribers
// (raw sockets that split frames without decoding, so the conductor is what is measured),
// and the same with one extra subscriber that never reads (it must not slow the others).
// Baseline: the single-subscriber rate in the same run. npm run build first.
//   node scripts/bench-fanout.mjs [--events 50000]
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { median, opt, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';
import { FrameDecoder, encodeFrame } from '../dist/ipc/framing.js';

const EVENTS = opt('events', 50_000);

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-fanout-'));
const conductor = await startConductor(home, { MZT_DEBUG_METHODS: '1' });
const { socketPath } = conductor;
const producer = await DaemonClient.connect({ socketPath });

async function subscriber({ read }) {
  const socket = net.createConnection(socketPath);
  await new Promise((r) => socket.once('connect', r));
  const dec = new FrameDecoder();
  const sub = { socket, frames: 0, ready: false };
  socket.on('data', (chunk) => {
    sub.frames += dec.push(chunk).length;
    sub.ready = true;
  });
  socket.write(encodeFrame([0, 1, 'daemon.monitor.stream', { types: ['debug.'], max_queued_events: 100000, max_queued_bytes: 64 * 1024 * 1024 }]));
  while (!sub.ready) await new Promise((r) => setTimeout(r, 5));
  sub.frames = 0; // response + caught_up
  if (!read) socket.pause();
  return sub;
}

async function run(n, withStalled) {
  const subs = await Promise.all(Array.from({ length: n }, () => subscriber({ read: true })));
  const stalled = withStalled ? await subscriber({ read: false }) : undefined;
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < EVENTS; sent += 5000) {
    await producer.call('debug.emit', { count: 5000, size: 150 });
    // Stay within every reader's bound: wait for the slowest reader to be near.
    while (Math.min(...subs.map((s) => s.frames)) < sent - 20_000) await new Promise((r) => setTimeout(r, 1));
  }
  while (subs.some((s) => s.frames < EVENTS)) await new Promise((r) => setTimeout(r, 1));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of subs) s.socket.destroy();
  stalled?.socket.destroy();
  return (EVENTS * n) / secs;
}

// Rounds interleave the cases, so a drift of the machine's speed falls on all of them alike
// (the stalled/unstalled ratio compares two medians and is what drifts would skew).
const ROUNDS = 5;
const cases = [[1, false], [10, false], [100, false], [10, true], [100, true]];
const rates = cases.map(() => []);
for (let r = 0; r < ROUNDS; r++) for (let c = 0; c < cases.length; c++) rates[c].push(await run(...cases[c]));
const rows = cases.map(([n, stalled], c) => ({ n, stalled, rate: median(rates[c]) }));
await producer.close();
await conductor.stop();
fs.rmSync(home, { recursive: true, force: true });

const base = rows[0].rate;
console.log(`machine: ${os.cpus().length} cores, node ${process.version}; ${EVENTS} events of ~256 B to each subscriber; medians of ${ROUNDS} interleaved rounds`);
console.log('| subscribers | delivered events/s (all subscribers) | ratio to 1 subscriber |');
console.log('|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.n}${r.stalled ? ' + 1 stalled' : ''} | ${Math.round(r.rate).toLocaleString('en')} | ${(r.rate / base).toFixed(2)} |`);
}
const pairs = [[1, 3], [2, 4]].map(([a, b]) => (rows[b].rate / rows[a].rate).toFixed(2));
console.log(`with one stalled subscriber the others keep ${pairs[0]}x (10) and ${pairs[1]}x (100) of their rate`);
