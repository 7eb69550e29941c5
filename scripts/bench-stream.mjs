#!/usr/bin/env node
// Stream throughput and resume time, each row against a baseline measured in the same run.
//
//   node scripts/bench-stream.mjs [--events 200000] [--runs 3]
//
// Rows:
//   ceiling   plain net Unix socket + msgpack frames, one write per tick, no conductor
//   durable   debug.emit → EventStore commit → bus → socket → DaemonClient decode
//   resume    subscribe({since: 0}) over N stored events until caught_up
// Needs `npm run build` first (it imports dist/).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ceilingServerSource, durableStreamRate, median, opt, readCeiling, startConductor } from './benchKit.mjs';
import { DaemonClient } from '../dist/index.js';
import Database from 'better-sqlite3';

const N = opt('events', 200_000);
const RUNS = opt('runs', 3);


/** Ceiling: a child process serves N event frames, one write per tick (benchKit.mjs). */
async function ceilingRun(sockPath) {
  const server = spawn(process.execPath, ['--input-type=module', '-e', ceilingServerSource(sockPath, N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => server.stdout.once('data', r));
  const rate = await readCeiling(sockPath, N);
  server.kill();
  fs.rmSync(sockPath, { force: true });
  return rate;
}

async function resumeRun(socketPath) {
  const client = await DaemonClient.connect({ socketPath });
  const start = process.hrtime.bigint();
  let got = 0;
  for await (const item of client.subscribe({ since: 0, max_queued_events: 100_000, max_queued_bytes: 64 * 1024 * 1024 })) {
    if (item.kind === 'event') got++;
    if (item.kind === 'caught_up') break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await client.close();
  return { secs, got };
}

/** Baseline for resume: a bare raw iteration of the same table, no conductor, no socket. */
function rawIteration(dbPath) {
  const db = new Database(dbPath, { readonly: true });
  const t = process.hrtime.bigint();
  let n = 0;
  for (const row of db.prepare('SELECT seq, payload FROM events ORDER BY seq').raw(true).iterate()) if (row[1]) n++;
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  db.close();
  return { secs, n };
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-'));
const ceilingSock = path.join(home, 'ceiling.sock');
const ceiling = [];
const durable = [];
const resume = [];
const raw = [];
const conductor = await startConductor(home, { MZT_DEBUG_METHODS: '1' });
const { socketPath } = conductor;
try {
  for (let r = 0; r < RUNS; r++) {
    ceiling.push(await ceilingRun(ceilingSock));
    durable.push(await durableStreamRate(socketPath, N));
  }
  for (let r = 0; r < RUNS; r++) {
    resume.push(await resumeRun(socketPath));
    raw.push(rawIteration(path.join(home, 'events.db')));
  }
} finally {
  await conductor.stop();
  fs.rmSync(home, { recursive: true, force: true });
}

const c = median(ceiling);
const d = median(durable);
const res = median(resume.map((x) => x.secs));
const stored = resume[0].got;
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; ${N} events of ~256 B, median of ${RUNS}`);
console.log('| row | median | ratio |');
console.log('|---|---|---|');
console.log(`| ceiling: net + msgpack, write per tick | ${Math.round(c).toLocaleString('en')} ev/s | 1.00 |`);
console.log(`| durable stream → DaemonClient | ${Math.round(d).toLocaleString('en')} ev/s | ${(d / c).toFixed(2)} |`);
const rawSecs = median(raw.map((x) => x.secs));
console.log(`| bare raw iteration of the same ${raw[0].n.toLocaleString('en')} rows (resume baseline) | ${rawSecs.toFixed(2)} s | 1.00 |`);
console.log(`| resume ${stored.toLocaleString('en')} stored events from seq 0 to a DaemonClient | ${res.toFixed(2)} s (${Math.round(stored / res).toLocaleString('en')} ev/s) | ${(rawSecs / res).toFixed(2)} of raw |`);
