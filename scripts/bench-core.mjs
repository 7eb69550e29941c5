#!/usr/bin/env node
// Core benchmarks, each against a baseline measured in the same run (npm run build first):
//   append     group commit vs one transaction per event (EventStore, in process)
//   paced      10k events/s: append → commit → decoded by a DaemonClient, p50/p99/p99.9, vs a
//              bare socket server (the floor), and vs SQLite's checkpoint inside the commit
//   latency    one event: debug.emit → commit → socket → decoded by DaemonClient (round trip,
//              so an upper bound of append→decode), p50/p99/p99.9 over N samples
//   startup    conductor start → ready with 1M events in the log, vs an empty log
//   idle RSS   of a conductor with no clients
// Usage: node scripts/bench-core.mjs [--events 1000000] [--samples 3000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { median, opt, percentile, root, rssMb, startConductor } from './benchKit.mjs';
import { FrameDecoder, decodeValue } from '../dist/ipc/framing.js';
import Database from 'better-sqlite3';
import { EventStore } from '../dist/events/store.js';
import { DaemonClient } from '../dist/index.js';

const EVENTS = opt('events', 1_000_000);
const SAMPLES = opt('samples', 3000);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-'));
const rows = [];
// --only append|paced|latency|startup: one section (for profiling and quick checks).
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? process.argv[onlyArg + 1] : undefined;
const section = (name) => ONLY === undefined || ONLY === name;

// --- append: group commit vs one transaction per event --------------------------------------
if (section('append')) {
  const single = [];
  const group = [];
  for (let run = 0; run < 3; run++) {
    const dir = tmp();
    const store = EventStore.open(path.join(dir, 'e.db'));
    const n1 = 20_000;
    let t = process.hrtime.bigint();
    for (let i = 0; i < n1; i++) store.appendSync({ type: 'bench.one', data: { i, pad: 'x'.repeat(150) } });
    single.push(n1 / (Number(process.hrtime.bigint() - t) / 1e9));
    const n2 = 200_000;
    t = process.hrtime.bigint();
    for (let b = 0; b < n2; b += 10_000) {
      const ps = [];
      for (let i = 0; i < 10_000; i++) ps.push(store.append({ type: 'bench.group', data: { i, pad: 'x'.repeat(150) } }));
      await Promise.all(ps);
    }
    group.push(n2 / (Number(process.hrtime.bigint() - t) / 1e9));
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  rows.push(['append: one transaction per event (baseline)', `${Math.round(median(single)).toLocaleString('en')} ev/s`, '1.00']);
  rows.push(['append: group commit (≤1000/tx)', `${Math.round(median(group)).toLocaleString('en')} ev/s`, (median(group) / median(single)).toFixed(2)]);
}


/**
 * The producer's pacing, the same for every paced row: every ~1 ms, ask `send` for the events
 * due by then at `rate`, each stamped in `sentAt` with the time of its ask.
 */
async function pace(rate, total, sentAt, send) {
  const t0 = process.hrtime.bigint();
  let asked = 0;
  while (asked < total) {
    const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - t0) / 1e9) * rate)) - asked;
    if (due > 0) {
      const t = process.hrtime.bigint();
      for (let k = 0; k < due; k++) sentAt.push(t);
      asked += due;
      send(due);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

// --- latency, paced: 10k events/s, append → commit → decoded ---------------------------------
// The producer calls debug.emit every ~1 ms with the events due by then (≈10 per call, so the
// conductor group-commits them together), and the consumer (same process, other connection)
// takes each event's latency at the moment the DaemonClient iterator hands it over decoded:
//   append→decoded  from the append inside the conductor (debug.emit {stamp}: the conductor's
//                   CLOCK_MONOTONIC at the append, which this process reads as hrtime too);
//                   commit, publication, socket and decode included — the target's measure;
//   call→decoded    from the moment the call was made (events arrive in call order: the k-th
//                   event received belongs to the k-th asked for), so the request's own trip
//                   across the socket and into the conductor is included too.
// Baseline: the same conductor with SQLite's automatic WAL checkpoint inside the commit
// (MZT_WAL_CHECKPOINT=auto).
async function pacedLatency(env, { rate = 10_000, seconds = 4, warmupSeconds = 0.5 } = {}) {
  const home = tmp();
  const c = await startConductor(home, { MZT_DEBUG_METHODS: '1', ...env });
  const producer = await DaemonClient.connect({ socketPath: c.socketPath });
  const consumer = await DaemonClient.connect({ socketPath: c.socketPath });
  const it = consumer.subscribe({ types: ['debug.'] })[Symbol.asyncIterator]();
  await it.next(); // caught_up
  const sentAt = [];
  const total = Math.round(rate * (seconds + warmupSeconds));
  const warmup = Math.round(rate * warmupSeconds);
  const lat = [];
  const callLat = [];
  const calls = [];
  const producing = pace(rate, total, sentAt, (due) => calls.push(producer.call('debug.emit', { count: due, size: 150, stamp: true })));
  for (let got = 0; got < total; ) {
    const { value } = await it.next();
    if (value.kind !== 'event') continue;
    const now = process.hrtime.bigint();
    if (got >= warmup) {
      lat.push((Number(now) - value.event.data.mono_ns) / 1e6);
      callLat.push(Number(now - sentAt[got]) / 1e6);
    }
    got++;
  }
  await producing;
  await Promise.all(calls);
  await producer.close();
  await consumer.close();
  await c.stop();
  fs.rmSync(home, { recursive: true, force: true });
  return latencyFigures(lat, callLat);
}

function latencyFigures(lat, callLat) {
  return {
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    p999: percentile(lat, 99.9),
    max: Math.max(...lat),
    n: lat.length,
    callP50: percentile(callLat, 50),
    callP99: percentile(callLat, 99),
  };
}

/**
 * The floor of the same measurement on this machine: the same producer pacing and consumer, but
 * the other end is a bare child process that answers each request frame [count] by writing
 * count event frames to the subscriber connection (one write per tick): no SQLite, no conductor.
 * Its events carry mono_ns from their creation, the bare counterpart of the append.
 */
async function pacedLatencyBare({ rate = 10_000, seconds = 4, warmupSeconds = 0.5 } = {}) {
  const sockPath = path.join(tmp(), 'bare.sock');
  const server = spawn(process.execPath, ['--input-type=module', '-e', `
    import net from 'node:net';
    import { FrameDecoder, encodeFrame } from '${root}/dist/ipc/framing.js';
    let consumer; let seq = 0; let parts = []; let scheduled = false;
    const flush = () => { scheduled = false; consumer.write(Buffer.concat(parts)); parts = []; };
    net.createServer((s) => {
      if (!consumer) { consumer = s; s.write(encodeFrame(['ready'])); return; }
      const dec = new FrameDecoder();
      s.on('data', (chunk) => {
        for (const f of dec.push(chunk)) {
          const [count] = JSON.parse(Buffer.from(f).toString());
          for (let k = 0; k < count; k++) {
            seq++;
            parts.push(encodeFrame([2, 'stream.event', { subscription: 1, event: { seq, ts: Date.now() / 1000, type: 'debug.paced', data: { i: seq, pad: 'x'.repeat(150), mono_ns: Number(process.hrtime.bigint()) } } }]));
          }
          if (!scheduled) { scheduled = true; setImmediate(flush); }
        }
      });
    }).listen('${sockPath}', () => process.stdout.write('ready\\n'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => server.stdout.once('data', r));
  const sentAt = [];
  const total = Math.round(rate * (seconds + warmupSeconds));
  const warmup = Math.round(rate * warmupSeconds);
  const lat = [];
  const callLat = [];
  const consumer = net.createConnection(sockPath);
  const dec = new FrameDecoder();
  let got = -1; // the first frame is the server's 'ready'
  let done;
  const finished = new Promise((r) => (done = r));
  consumer.on('data', (chunk) => {
    for (const f of dec.push(chunk)) {
      const frame = decodeValue(f);
      if (got >= warmup) {
        const now = process.hrtime.bigint();
        lat.push((Number(now) - frame[2].event.data.mono_ns) / 1e6);
        callLat.push(Number(now - sentAt[got]) / 1e6);
      }
      if (++got === total) done();
    }
  });
  await new Promise((r) => consumer.once('data', () => r()));
  const producer = net.createConnection(sockPath);
  await new Promise((r) => producer.once('connect', r));
  await pace(rate, total, sentAt, (due) => {
    const body = Buffer.from(JSON.stringify([due]));
    const h = Buffer.allocUnsafe(4); h.writeUInt32BE(body.length, 0);
    producer.write(Buffer.concat([h, body]));
  });
  await finished;
  producer.destroy();
  consumer.destroy();
  server.kill();
  fs.rmSync(path.dirname(sockPath), { recursive: true, force: true });
  return latencyFigures(lat, callLat);
}

if (section('paced')) {
  const bare = [];
  const base = [];
  const ours = [];
  for (let run = 0; run < 3; run++) {
    bare.push(await pacedLatencyBare());
    base.push(await pacedLatency({ MZT_WAL_CHECKPOINT: 'auto' }));
    ours.push(await pacedLatency({}));
  }
  const fmt = (xs) =>
    `p50 ${median(xs.map((x) => x.p50)).toFixed(3)} ms, p99 ${median(xs.map((x) => x.p99)).toFixed(3)} ms, ` +
    `p99.9 ${median(xs.map((x) => x.p999)).toFixed(3)} ms, max ${median(xs.map((x) => x.max)).toFixed(1)} ms; ` +
    `call→decoded p50 ${median(xs.map((x) => x.callP50)).toFixed(3)} ms, p99 ${median(xs.map((x) => x.callP99)).toFixed(3)} ms`;
  const runs = (xs) => xs.map((x) => x.p99.toFixed(2)).join('/');
  const p99Ratio = (xs, ys) => (median(xs.map((x) => x.p99)) / median(ys.map((y) => y.p99))).toFixed(2);
  rows.push([`latency paced 10k ev/s, bare socket, no conductor: created→decoded (floor; p99 per run ${runs(bare)})`, fmt(bare), '1.00']);
  rows.push([`latency paced 10k ev/s, append→decoded, checkpoint in the commit (p99 per run ${runs(base)})`, fmt(base), p99Ratio(base, bare)]);
  rows.push([`latency paced 10k ev/s, append→decoded, checkpoint in a worker (p99 per run ${runs(ours)})`, fmt(ours), p99Ratio(ours, bare)]);
}

// --- latency and idle RSS ---------------------------------------------------------------------
if (section('latency')) {
  const home = tmp();
  const c = await startConductor(home, { MZT_DEBUG_METHODS: '1' });
  await new Promise((r) => setTimeout(r, 3000));
  const idle = rssMb(c.proc.pid);
  const producer = await DaemonClient.connect({ socketPath: c.socketPath });
  const consumer = await DaemonClient.connect({ socketPath: c.socketPath });
  const it = consumer.subscribe({ types: ['debug.'] })[Symbol.asyncIterator]();
  await it.next(); // caught_up
  const lat = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t = process.hrtime.bigint();
    void producer.call('debug.emit', { count: 1, size: 150 });
    for (;;) {
      const { value } = await it.next();
      if (value.kind === 'event') break;
    }
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    await new Promise((r) => setTimeout(r, 0));
  }
  await producer.close();
  await consumer.close();
  await c.stop();
  fs.rmSync(home, { recursive: true, force: true });
  rows.push([`latency emit→commit→decoded, round trip (${SAMPLES} samples)`, `p50 ${median(lat).toFixed(3)} ms, p99 ${percentile(lat, 99).toFixed(3)} ms, p99.9 ${percentile(lat, 99.9).toFixed(3)} ms`, '-']);
  rows.push(['conductor idle RSS (3 s after start, no clients)', `${idle.toFixed(1)} MB`, '-']);
}

// --- startup with a big log --------------------------------------------------------------------
if (section('startup')) {
  const empty = [];
  const full = [];
  const big = tmp();
  const store = EventStore.open(path.join(big, 'events.db'));
  for (let b = 0; b < EVENTS; b += 10_000) {
    const ps = [];
    for (let i = 0; i < 10_000; i++) ps.push(store.append({ type: 'bench.fill', job_id: `job-${(b + i) % 1000}`, data: { i } }));
    await Promise.all(ps);
  }
  store.close();
  for (let run = 0; run < 3; run++) {
    const home = tmp();
    const c0 = await startConductor(home);
    empty.push(c0.ms);
    await c0.stop();
    fs.rmSync(home, { recursive: true, force: true });
    const c1 = await startConductor(big);
    full.push(c1.ms);
    await c1.stop();
  }
  fs.rmSync(big, { recursive: true, force: true });
  rows.push(['start → ready, empty log (baseline)', `${median(empty).toFixed(0)} ms`, '1.00']);
  rows.push([`start → ready, ${EVENTS.toLocaleString('en')} events in the log`, `${median(full).toFixed(0)} ms`, (median(full) / median(empty)).toFixed(2)]);
}

// --- resume: 1M stored events from seq 0 to a DaemonClient, against a bare raw iteration -------
// Events of ~256 B like bench-stream's (type, seq, ts, data {i, pad: 150 B}). The baseline
// iterates the same table (seq, payload) with better-sqlite3 in this process, no conductor.
if (section('resume')) {
  const home = tmp();
  const store = EventStore.open(path.join(home, 'events.db'));
  for (let b = 0; b < EVENTS; b += 10_000) {
    const ps = [];
    for (let i = 0; i < 10_000; i++) ps.push(store.append({ type: 'bench.resume', data: { i, pad: 'x'.repeat(150) } }));
    await Promise.all(ps);
  }
  store.close();
  const raw = [];
  const resume = [];
  let got = 0;
  const c = await startConductor(home);
  for (let run = 0; run < 3; run++) {
    const db = new Database(path.join(home, 'events.db'), { readonly: true });
    let t = process.hrtime.bigint();
    let n = 0;
    for (const row of db.prepare('SELECT seq, payload FROM events ORDER BY seq').raw(true).iterate()) if (row[1]) n++;
    raw.push(Number(process.hrtime.bigint() - t) / 1e9);
    db.close();
    const client = await DaemonClient.connect({ socketPath: c.socketPath });
    t = process.hrtime.bigint();
    got = 0;
    for await (const item of client.subscribe({ since: 0, max_queued_events: 100_000, max_queued_bytes: 64 * 1024 * 1024 })) {
      if (item.kind === 'event') got++;
      if (item.kind === 'caught_up') break;
    }
    resume.push(Number(process.hrtime.bigint() - t) / 1e9);
    await client.close();
  }
  await c.stop();
  fs.rmSync(home, { recursive: true, force: true });
  const r = median(raw);
  const s = median(resume);
  rows.push([`bare raw iteration of ${EVENTS.toLocaleString('en')} stored events (resume baseline)`, `${r.toFixed(2)} s`, '1.00']);
  rows.push([`resume ${got.toLocaleString('en')} events from seq 0 to a DaemonClient (runs ${resume.map((x) => x.toFixed(2)).join('/')} s)`, `${s.toFixed(2)} s (${Math.round(got / s).toLocaleString('en')} ev/s)`, `${(r / s).toFixed(2)} of raw`]);
}

console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; medians of 3 runs unless noted`);
console.log('| row | median | ratio |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
