#!/usr/bin/env node
// What users would pick instead of the conductor to stream events to one subscriber, side by
// side with the socket ceiling measured in the same run.
//
//   node scripts/bench-alternatives.mjs [--events 200000] [--pm2-events <events>] [--runs 3]
//
// Rows (events/s delivered to one subscriber, median of --runs):
//   ceiling   plain net Unix socket + msgpack frames, one write per tick (as bench-stream.mjs)
//   node-ipc  node-ipc 12.0.0 in its default JSON mode: ipc.server.emit(socket, 'event', payload)
//             from a server process, counted by an ipc.connectTo client in this process
//   pm2 bus   a process run by a private pm2 daemon (PM2_HOME in a temp dir) sends
//             process.send({type: 'process:msg', data: payload}); counted on pm2.launchBus
// Our conductor's row is bench-stream.mjs's "durable stream" (that script runs on import, so it
// is not reused here). Every payload is the same `stream.event` params object as bench-stream's
// ceiling: {subscription: 1, event: {seq, ts, type: 'debug.burst', data: {i, pad: 150 × 'x'}}}.
// Needs `npm run build` first (the ceiling uses dist/ipc/framing.js, like bench-stream.mjs).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IPCModule } from 'node-ipc';
import { ceilingServerSource, median, opt, readCeiling } from './benchKit.mjs';
import { encodeValue } from '../dist/ipc/framing.js';

const N = opt('events', 200_000);
const PM2_N = opt('pm2-events', N);
const RUNS = opt('runs', 3);
const PAD = 'x'.repeat(150); // ≈256-byte events, as in bench-stream.mjs
const BATCH = 2000; // payloads produced per tick by every producer

// One expression, used by every producer (i = 0-based index), so all rows carry the same payload.
const PAYLOAD_JS = `({ subscription: 1, event: { seq: i + 1, ts: Date.now() / 1000, type: 'debug.burst', data: { i, pad: '${PAD}' } } })`;
const payload = (i) => ({ subscription: 1, event: { seq: i + 1, ts: Date.now() / 1000, type: 'debug.burst', data: { i, pad: PAD } } });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-alt-'));
const children = new Set();
const pm2Pids = { daemon: undefined, apps: new Set() };
// Last resort (an exception, Ctrl-C): nothing we started may outlive us.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const pid of [...pm2Pids.apps, pm2Pids.daemon]) if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** A producer process running `code` (an ES module); resolves once it prints its first line. */
async function producer(code) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`producer exited (${code}) before it was ready`)));
  });
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    },
  };
}

const secsSince = (t) => Number(process.hrtime.bigint() - t) / 1e9;

/** Ceiling: the same as bench-stream.mjs's (benchKit.mjs): N event frames, one write per tick. */
async function ceilingRun() {
  const sockPath = path.join(tmp, 'ceiling.sock');
  const server = await producer(ceilingServerSource(sockPath, N));
  try {
    return await readCeiling(sockPath, N);
  } finally {
    await server.stop();
    fs.rmSync(sockPath, { force: true });
  }
}

/** node-ipc 12.0.0, default JSON mode (no rawBuffer): one emit per event, waiting for drain like the ceiling. */
async function nodeIpcRun(r) {
  const sockPath = path.join(tmp, `node-ipc-${r}.sock`);
  const server = await producer(`
    import { IPCModule } from '${import.meta.resolve('node-ipc')}';
    const ipc = new IPCModule();
    ipc.config.id = 'bench';
    ipc.config.silent = true;
    const N = ${N};
    ipc.serve('${sockPath}', () => process.stdout.write('ready\\n'));
    ipc.server.on('connect', (socket) => {
      let i = 0;
      const tick = () => {
        for (let k = 0; k < ${BATCH} && i < N; k++, i++) ipc.server.emit(socket, 'event', ${PAYLOAD_JS});
        if (i < N) socket.writableNeedDrain ? socket.once('drain', tick) : setImmediate(tick);
      };
      tick();
    });
    ipc.server.start();
  `);
  const ipc = new IPCModule();
  ipc.config.silent = true;
  ipc.config.stopRetrying = true;
  ipc.config.maxRetries = 0;
  const id = `bench${r}`;
  try {
    const start = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      let got = 0;
      ipc.connectTo(id, sockPath, () => {
        const conn = ipc.of[id];
        conn.on('error', reject);
        conn.on('event', (data) => {
          if (data.subscription !== 1) return reject(new Error('unexpected node-ipc payload'));
          if (++got === N) resolve();
        });
      });
    });
    return N / secsSince(start);
  } finally {
    ipc.disconnect(id);
    await server.stop();
    fs.rmSync(sockPath, { force: true });
  }
}

/** pm2's bus: a private daemon, one sender app per run, messages counted on launchBus. */
async function withPm2(body) {
  const home = path.join(tmp, 'pm2-home');
  fs.mkdirSync(home);
  // Before pm2 is loaded: its paths come from PM2_HOME, and the daemon inherits our environment.
  // DISCRETE/PROGRAMMATIC: no banner, no version check over the network; NO_INTERACTION: no agent.
  Object.assign(process.env, { PM2_HOME: home, PM2_DISCRETE_MODE: 'true', PM2_PROGRAMMATIC: 'true', PM2_NO_INTERACTION: 'true' });
  let pm2;
  try {
    ({ default: pm2 } = await import('pm2'));
  } catch (err) {
    return body(undefined, err);
  }
  const call = (fn, ...args) => new Promise((resolve, reject) => fn.call(pm2, ...args, (err, res) => (err ? reject(err) : resolve(res))));
  try {
    let ctx;
    let setupError;
    try {
      await withTimeout(call(pm2.connect, false), 30_000, 'pm2.connect did not answer in 30 s');
      pm2Pids.daemon = Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8'));
      ctx = { pm2, call, home, bus: await withTimeout(call(pm2.launchBus), 30_000, 'pm2.launchBus did not answer in 30 s') };
    } catch (err) {
      setupError = err;
    }
    return await body(ctx, setupError);
  } finally {
    await Promise.race([call(pm2.killDaemon).catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
    await Promise.race([new Promise((r) => pm2.disconnect(r)), new Promise((r) => setTimeout(r, 2_000))]);
    // killDaemon answers before the daemon has exited: give it a moment.
    const pids = [...pm2Pids.apps, pm2Pids.daemon].filter(Boolean);
    for (let t = 0; t < 50 && pids.some(isAlive); t++) await new Promise((r) => setTimeout(r, 100));
    for (const pid of pids) {
      if (isAlive(pid)) {
        process.kill(pid, 'SIGKILL');
        console.error(`pm2: process ${pid} survived killDaemon; SIGKILLed it`);
      }
    }
  }
}

/** Running, not exited (a zombie waiting to be reaped counts as gone). */
function isAlive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function pm2Run({ pm2, call, bus, home }, r) {
  const script = path.join(home, `sender-${r}.cjs`);
  fs.writeFileSync(script, `
    const N = ${PM2_N};
    // Wait for the go, so the clock does not include pm2 starting the process.
    process.on('message', (packet) => {
      if (packet?.topic !== 'go') return;
      let i = 0;
      let waiting = false;
      const written = () => { if (waiting) { waiting = false; tick(); } };
      const tick = () => {
        let ok = true;
        for (let k = 0; k < ${BATCH} && i < N; k++, i++) {
          const last = k === ${BATCH} - 1 || i === N - 1;
          ok = process.send({ type: 'process:msg', data: ${PAYLOAD_JS} }, last ? written : undefined);
        }
        if (i >= N) return;
        // Backlogged IPC channel: continue once this batch's last message is written.
        if (ok) setImmediate(tick);
        else waiting = true;
      };
      tick();
    });
    process.send({ type: 'bench:ready', data: { pid: process.pid } });
    setInterval(() => {}, 1 << 30); // stay up until pm2 deletes us
    process.on('disconnect', () => process.exit(0)); // or until the daemon is gone
  `);
  const name = `bench-sender-${r}`;
  let got = 0;
  let start;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const ready = new Promise((resolve) => {
    const onReady = (packet) => {
      if (packet.process?.name !== name) return;
      bus.off('bench:ready', onReady);
      pm2Pids.apps.add(packet.data.pid);
      resolve(packet.process.pm_id);
    };
    bus.on('bench:ready', onReady);
  });
  const onMsg = (packet) => {
    if (packet.process?.name !== name || packet.data?.subscription !== 1) return;
    if (++got === PM2_N) done(PM2_N / secsSince(start));
  };
  bus.on('process:msg', onMsg);
  try {
    await call(pm2.start, { script, name, autorestart: false, exec_mode: 'fork', instances: 1 });
    const pmId = await withTimeout(ready, 15_000, `${name} never reported ready`);
    start = process.hrtime.bigint();
    await call(pm2.sendDataToProcessId, pmId, { type: 'process:msg', topic: 'go', data: {} });
    const limitSecs = 60;
    return await withTimeout(finished, limitSecs * 1000, () => `pm2 bus: ${got}/${PM2_N} messages after ${limitSecs} s`);
  } finally {
    bus.off('process:msg', onMsg);
    await call(pm2.delete, name).catch(() => {});
  }
}

async function withTimeout(promise, ms, message) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(typeof message === 'function' ? message() : message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const ceiling = [];
const nodeIpc = [];
const pm2Bus = [];
let pm2Error;
try {
  // Rounds interleave the rows, so a noisy neighbour hits them alike.
  await withPm2(async (ctx, setupError) => {
    pm2Error = setupError; // pm2 could not start: the other rows still run
    for (let r = 0; r < RUNS; r++) {
      ceiling.push(await ceilingRun());
      nodeIpc.push(await nodeIpcRun(r));
      if (ctx && !pm2Error) {
        try {
          pm2Bus.push(await pm2Run(ctx, r));
        } catch (err) {
          pm2Error = err;
        }
      }
    }
  });
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const c = median(ceiling);
const fmt = (x) => `${Math.round(x).toLocaleString('en')} ev/s`;
const sample = payload(N - 1);
const msgpackBytes = 4 + encodeValue([2, 'stream.event', sample]).length;
const jsonBytes = Buffer.byteLength(JSON.stringify({ type: 'event', data: sample })) + 1;
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}; median of ${RUNS}`);
console.log(`payload: msgpack frame ${msgpackBytes} B, node-ipc JSON message ${jsonBytes} B; ${N} events (pm2: ${PM2_N})`);
console.log('| row | median | ratio |');
console.log('|---|---|---|');
console.log(`| ceiling: net + msgpack, write per tick | ${fmt(c)} | 1.00 |`);
console.log(`| node-ipc 12.0.0, default JSON mode, emit per event | ${fmt(median(nodeIpc))} | ${(median(nodeIpc) / c).toFixed(2)} |`);
if (pm2Bus.length === RUNS) console.log(`| pm2 7.0.4 bus: process.send → daemon → launchBus | ${fmt(median(pm2Bus))} | ${(median(pm2Bus) / c).toFixed(2)} |`);
else console.log(`| pm2 7.0.4 bus: process.send → daemon → launchBus | failed: ${pm2Error?.message ?? pm2Error} | - |`);
console.log('runs (ev/s):', JSON.stringify({ ceiling: ceiling.map(Math.round), nodeIpc: nodeIpc.map(Math.round), pm2Bus: pm2Bus.map(Math.round) }));
// pm2 leaves handles (its RPC/bus sockets, timers) behind even after killDaemon + disconnect.
process.exit(pm2Error ? 1 : 0);
