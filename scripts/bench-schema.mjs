#!/usr/bin/env node
/**
 * Cost of validating a request's params, per request: the runtime validator (dist/ipc/schema.js,
 * which also copies the params and fills defaults) against ajv (dev-only; validation only, no
 * defaults, so its best case), next to decoding the same request frame — the work every
 * request does anyway. Run after `npm run build`: node scripts/bench-schema.mjs
 */
import fs from 'node:fs';
import Ajv from 'ajv';
import { validateParams } from '../dist/ipc/schema.js';
import { decodeValue, encodeFrame } from '../dist/ipc/framing.js';

const dir = new URL('../protocol/schemas/', import.meta.url);
// Start-up: what ajv at run time would add before the first request (compile every params schema).
const rss0 = process.memoryUsage().rss;
const t0 = process.hrtime.bigint();
const ajv = new Ajv({ strict: true });
// The files' layout keys (see test/helpers/standardSchemas.ts).
ajv.addVocabulary(['methods', 'events', 'notifications', 'messages', 'envelope', 'error', 'snapshot']);
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) ajv.addSchema(JSON.parse(fs.readFileSync(new URL(f, dir), 'utf8')), f);

const methodList = Object.keys(JSON.parse(fs.readFileSync(new URL('methods.json', dir), 'utf8')).methods);
for (const m of methodList) ajv.compile({ $ref: `methods.json#/methods/${m}/params` });
const ajvStartMs = Number(process.hrtime.bigint() - t0) / 1e6;
const ajvRssMb = (process.memoryUsage().rss - rss0) / 1048576;

const cases = [
  ['ping', {}],
  ['events.read', { since: 120, limit: 500, types: ['job.', 'sheet.'] }],
  ['job.get', { job_id: 'build-1' }],
  ['job.submit', { name: 'build', env: { CI: '1' }, labels: { team: 'a' }, sheets: [{ argv: ['make', '-j8'], name: 'make' }, { argv: ['make', 'test'], timeout_seconds: 600, cwd: '/tmp' }] }],
  ['job.submit (invalid)', { sheets: [{ argv: ['a', 7] }] }],
];

function timeIt(fn, minMs = 300) {
  for (let i = 0; i < 2000; i++) fn(); // warm up the JIT
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(minMs) * 1_000_000n) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / n;
}

// Warm every path first, so the JIT state does not depend on the order of the rows.
for (let round = 0; round < 20000; round++) {
  for (const [label, params] of cases) {
    const method = label.split(' ')[0];
    validateParams(method, params);
    ajv.getSchema(`methods.json#/methods/${method}/params`)?.(params);
  }
}

console.log(`ajv start-up (compile the ${methodList.length} params schemas): ${ajvStartMs.toFixed(0)} ms, RSS +${ajvRssMb.toFixed(1)} MB`);
console.log('method                 own ns   ajv ns   own/ajv  decode ns  own/decode');
let sumOwn = 0;
let sumAjv = 0;
for (const [label, params] of cases) {
  const method = label.split(' ')[0];
  const check = ajv.getSchema(`methods.json#/methods/${method}/params`) ?? ajv.compile({ $ref: `methods.json#/methods/${method}/params` });
  const expectOk = !label.includes('invalid');
  if (validateParams(method, params).ok !== expectOk || check(params) !== expectOk) throw new Error(`${label}: unexpected verdict`);
  const body = encodeFrame([0, 1, method, params]).subarray(4);
  const own = timeIt(() => validateParams(method, params));
  const viaAjv = timeIt(() => check(params));
  const decode = timeIt(() => decodeValue(body));
  sumOwn += own;
  sumAjv += viaAjv;
  console.log(
    `${label.padEnd(22)} ${own.toFixed(0).padStart(6)} ${viaAjv.toFixed(0).padStart(8)} ${(own / viaAjv).toFixed(2).padStart(8)}x ${decode.toFixed(0).padStart(9)} ${(own / decode).toFixed(2).padStart(10)}x`,
  );
}
console.log(`all cases: own/ajv ${(sumOwn / sumAjv).toFixed(2)}x`);
