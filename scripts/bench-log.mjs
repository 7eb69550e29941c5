#!/usr/bin/env node
// Cost of one conductor log line (npm run build first): the logger (src/log/) against what the
// conductor did before it — a template string to process.stderr.write. Each variant runs in a
// child process whose stderr is a file opened for append (as under --detach), writing --lines
// lines of ~80 characters; the figure is wall ns per line (median of --runs).
//   before       process.stderr.write(`${ISO} mzt-conductor[pid] ${msg}\n`)
//   text, json   Logger.log in each format, through process.stderr.write
//   rotated      text through StderrRotation (writeSync + fstat per line, 10 MiB, keep 2)
//   filtered     a debug line at level info (dropped before formatting)
// Usage: node scripts/bench-log.mjs [--lines 200000] [--runs 3]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, opt, root } from './benchKit.mjs';

const LINES = opt('lines', 200_000);
const RUNS = opt('runs', 3);

const child = (variant) => `
  import { Logger } from '${root}/dist/log/logger.js';
  import { StderrRotation } from '${root}/dist/log/rotation.js';
  const N = ${LINES};
  const msg = (i) => 'connection ' + i + ' closed: a line about as long as the conductor writes';
  let write;
  switch ('${variant}') {
    case 'before': write = (i) => process.stderr.write(new Date().toISOString() + ' mzt-conductor[' + process.pid + '] ' + msg(i) + '\\n'); break;
    case 'text': { const l = new Logger({ name: 'mzt-conductor' }); write = (i) => l.log(msg(i)); break; }
    case 'json': { const l = new Logger({ name: 'mzt-conductor', format: 'json' }); write = (i) => l.log(msg(i)); break; }
    case 'rotated': { const l = new Logger({ name: 'mzt-conductor', rotation: StderrRotation.open({ maxBytes: 10 * 1024 * 1024, keep: 2 }) }); write = (i) => l.log(msg(i)); break; }
    case 'filtered': { const l = new Logger({ name: 'mzt-conductor' }); write = (i) => l.log(msg(i), 'debug'); break; }
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) write(i);
  process.stdout.write(String(Number(process.hrtime.bigint() - t0) / N));
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-log-'));
const out = {};
try {
  for (const variant of ['before', 'text', 'json', 'rotated', 'filtered']) {
    const ns = [];
    for (let r = 0; r < RUNS; r++) {
      const file = path.join(dir, `${variant}.log`);
      fs.rmSync(file, { force: true });
      const fd = fs.openSync(file, 'a');
      const res = spawnSync(process.execPath, ['--input-type=module', '-e', child(variant)], { stdio: ['ignore', 'pipe', fd], encoding: 'utf8' });
      fs.closeSync(fd);
      if (res.status !== 0) throw new Error(`${variant}: ${res.stderr ?? ''} ${fs.readFileSync(file, 'utf8').slice(-2000)}`);
      ns.push(Number(res.stdout));
    }
    out[variant] = Math.round(median(ns));
  }
  console.log(JSON.stringify({ lines: LINES, ns_per_line: out }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
