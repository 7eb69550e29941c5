// Shared pieces of the benchmark scripts: options, statistics, a conductor process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `--name N` from the command line, or the default. */
export function opt(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

export const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Start the compiled conductor on `home`; resolves when it is ready, with the time it took. */
export async function startConductor(home, env = {}) {
  // No dashboard: its bridge would be one more subscriber in every measurement.
  const configFile = path.join(home, 'config.json');
  if (!fs.existsSync(configFile)) fs.writeFileSync(configFile, JSON.stringify({ dashboard_enabled: false }));
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, [path.join(root, 'dist/bundle/mzt.js'), 'conductor', 'start'], {
    env: { ...process.env, MZT_HOME: home, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      out += d;
      if (/ ready on /.test(out)) resolve();
    });
    proc.on('exit', () => reject(new Error(out)));
  });
  return {
    proc,
    ms: Number(process.hrtime.bigint() - t0) / 1e6,
    /** What the conductor has written to stderr so far (its log). */
    log: () => out,
    socketPath: path.join(home, 'run', 'conductor.sock'),
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
    },
  };
}

/**
 * The stream ceiling, shared by bench-stream and bench-alternatives: source of a child process
 * (node --input-type=module -e) that serves `events` pre-built `stream.event` frames of ~256 B
 * on a plain net Unix socket, 2,000 per write, one write per tick; it prints "ready" once
 * listening. No conductor, no SQLite.
 */
export function ceilingServerSource(sockPath, events) {
  return `
    import net from 'node:net';
    import { encodeValue } from '${root}/dist/ipc/framing.js';
    const N = ${events};
    const PAD = 'x'.repeat(150);
    const srv = net.createServer((s) => {
      let i = 0;
      const tick = () => {
        const parts = [];
        for (let k = 0; k < 2000 && i < N; k++, i++) {
          const body = encodeValue([2, 'stream.event', { subscription: 1, event: { seq: i + 1, ts: Date.now() / 1000, type: 'debug.burst', data: { i, pad: PAD } } }]);
          const h = Buffer.allocUnsafe(4); h.writeUInt32BE(body.length, 0);
          parts.push(h, body);
        }
        const ok = s.write(Buffer.concat(parts));
        if (i < N) ok ? setImmediate(tick) : s.once('drain', tick);
      };
      tick();
    });
    srv.listen('${sockPath}', () => process.stdout.write('ready\\n'));
  `;
}

/** Connect to a ceiling server and decode `events` frames; resolves with events/s. */
export async function readCeiling(sockPath, events) {
  const { FrameDecoder, decodeValue } = await import('../dist/ipc/framing.js');
  const start = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    let got = 0;
    const c = net.createConnection(sockPath);
    c.on('error', reject);
    c.on('data', (chunk) => {
      for (const f of dec.push(chunk)) {
        decodeValue(f);
        if (++got === events) {
          c.destroy();
          resolve();
        }
      }
    });
  });
  return events / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Emit `count` events through debug.emit in batches of 10k, at most 50k ahead of `progress()`. */
export async function emitPaced(client, count, progress) {
  for (let sent = 0; sent < count; sent += 10_000) {
    while (sent - (await progress()) > 50_000) await new Promise((r) => setTimeout(r, 1));
    await client.call('debug.emit', { count: Math.min(10_000, count - sent), size: 150 });
  }
}

/**
 * The durable stream's rate: `n` events from debug.emit (producer connection) to one live
 * DaemonClient subscriber (consumer connection), events/s. The conductor needs MZT_DEBUG_METHODS.
 */
export async function durableStreamRate(socketPath, n) {
  const { DaemonClient } = await import('../dist/index.js');
  const producer = await DaemonClient.connect({ socketPath });
  const consumer = await DaemonClient.connect({ socketPath });
  const sub = consumer.subscribe({ types: ['debug.'], max_queued_events: 100_000, max_queued_bytes: 64 * 1024 * 1024 });
  const it = sub[Symbol.asyncIterator]();
  await it.next(); // caught_up: the subscription is live
  const start = process.hrtime.bigint();
  let got = 0;
  // The producer stays at most 50k events ahead of the consumer, inside its queue bound.
  const emitting = emitPaced(producer, n, async () => got);
  while (got < n) {
    const { value } = await it.next();
    if (value.kind === 'event') got++;
    else if (value.kind === 'lagged') throw new Error('subscriber lagged during the benchmark');
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await emitting;
  await sub.unsubscribe?.();
  await producer.close();
  await consumer.close();
  return n / secs;
}
