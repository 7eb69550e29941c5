/**
 * The params validator (src/ipc/schema.ts) against protocol/schemas/methods.json: examples
 * pass, each kind of mistake is reported with the field path, defaults are filled in a copy.
 */
import { describe, expect, it } from 'vitest';
import { methodExamples, methodNames, resolveRef, validateParams, validateResult, validateValue } from '../../src/ipc/schema.js';

function failure(method: string, params: unknown): { field: string; message: string } {
  const r = validateParams(method, params);
  if (r.ok) throw new Error(`expected ${method} ${JSON.stringify(params)} to be rejected`);
  return { field: r.field, message: r.message };
}

describe('methods.json', () => {
  it('has params, result, errors and at least one example for every method', () => {
    expect(methodNames().length).toBeGreaterThanOrEqual(19);
    for (const m of methodNames()) {
      expect(resolveRef(`methods.json#/methods/${m}/params`).type, m).toBe('object');
      expect(resolveRef(`methods.json#/methods/${m}/result`), m).toBeTypeOf('object');
      expect(methodExamples(m).length, m).toBeGreaterThan(0);
    }
  });

  it('accepts every example params of every method', () => {
    for (const m of methodNames()) {
      for (const example of methodExamples(m)) {
        const r = validateParams(m, example);
        expect(r, `${m} ${JSON.stringify(example)}`).toMatchObject({ ok: true });
      }
    }
  });

  it('resolves every $ref in every schema file', () => {
    const seen: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        const ref = (node as { $ref?: unknown }).$ref;
        if (typeof ref === 'string') seen.push(ref);
        Object.values(node).forEach(walk);
      }
    };
    for (const file of ['methods.json', 'events.json', 'envelope.json', 'snapshot.json']) walk(resolveRef(`${file}#`));
    expect(seen.length).toBeGreaterThan(10);
    for (const ref of seen) expect(() => resolveRef(ref), ref).not.toThrow();
  });
});

describe('validateParams', () => {
  it('treats nil and absent params as {} and fills defaults', () => {
    for (const p of [null, undefined, {}]) {
      expect(validateParams('events.read', p)).toEqual({ ok: true, value: { since: 0, limit: 100 } });
    }
    const stream = validateParams('daemon.monitor.stream', { since: 5 });
    expect(stream).toEqual({ ok: true, value: { since: 5, include_snapshots: false, on_overflow: 'lag' } });
  });

  it('returns a copy and leaves the input untouched', () => {
    const input = { sheets: [{ argv: ['echo', 'x'] }] };
    const r = validateParams('job.submit', input);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual(input);
    expect(r.value).not.toBe(input);
    expect((r.value as typeof input).sheets[0]).not.toBe(input.sheets[0]);
    const defaults = validateParams('daemon.shutdown', {});
    expect(defaults).toEqual({ ok: true, value: { graceful: true } });
  });

  it('names a missing required field', () => {
    expect(failure('job.submit', {})).toEqual({ field: 'sheets', message: 'invalid params: "sheets" is required' });
    expect(failure('job.submit', { sheets: [{}] })).toEqual({
      field: 'sheets[0].argv',
      message: 'invalid params: "sheets[0].argv" is required',
    });
    expect(failure('job.get', null).field).toBe('job_id');
  });

  it('names a mistyped field with its path', () => {
    expect(failure('job.submit', { sheets: [{ argv: [] }] })).toEqual({
      field: 'sheets[0].argv',
      message: 'invalid params: "sheets[0].argv" must be a non-empty array of strings',
    });
    expect(failure('job.submit', { sheets: [{ argv: ['a', 7] }] })).toEqual({
      field: 'sheets[0].argv[1]',
      message: 'invalid params: "sheets[0].argv[1]" must be a string, got number 7',
    });
    expect(failure('job.submit', { sheets: [{ argv: ['a'], env: { X: 1 } }] }).field).toBe('sheets[0].env.X');
    expect(failure('events.read', { limit: '10' }).message).toBe('invalid params: "limit" must be an integer, got string "10"');
    expect(failure('events.read', { limit: 1.5 }).message).toBe('invalid params: "limit" must be an integer, got 1.5');
    expect(failure('daemon.shutdown', { graceful: 'yes' }).field).toBe('graceful');
    expect(failure('job.list', { status: ['done'] }).message).toMatch(/"status\[0\]" must be one of "queued", "running"/);
    expect(failure('daemon.monitor.stream', { on_overflow: 'drop' }).field).toBe('on_overflow');
  });

  it('enforces bounds', () => {
    expect(failure('events.read', { limit: 0 }).message).toBe('invalid params: "limit" must be at least 1, got 0');
    expect(failure('events.read', { limit: 1001 }).message).toBe('invalid params: "limit" must be at most 1000, got 1001');
    expect(failure('events.read', { since: -1 }).field).toBe('since');
    expect(failure('daemon.monitor.stream', { max_queued_events: 100001 }).field).toBe('max_queued_events');
    expect(failure('daemon.monitor.stream', { max_queued_bytes: 64 * 1024 * 1024 + 1 }).field).toBe('max_queued_bytes');
    expect(failure('job.submit', { sheets: [{ argv: ['a'], timeout_seconds: 0 }] }).message).toMatch(/greater than 0/);
    expect(failure('job.submit', { sheets: Array.from({ length: 101 }, () => ({ argv: ['a'] })) }).message).toMatch(/at most 100 items/);
    expect(failure('hello', { client: 'x'.repeat(201) }).message).toMatch(/at most 200 characters/);
    // Characters, not UTF-16 units: 200 four-byte characters are allowed.
    expect(validateParams('hello', { client: '🎻'.repeat(200) }).ok).toBe(true);
  });

  it('rejects unknown fields by name, at any depth', () => {
    expect(failure('ping', { pad: 1 })).toEqual({ field: 'pad', message: 'invalid params: unknown field "pad"' });
    expect(failure('job.submit', { sheets: [{ argv: ['a'], shell: true }] })).toEqual({
      field: 'sheets[0].shell',
      message: 'invalid params: unknown field "sheets[0].shell"',
    });
  });

  it('refuses job ids that would name a directory badly', () => {
    for (const id of ['.', '..', 'a/b', '', 'x'.repeat(65)]) expect(failure('job.get', { job_id: id }).field).toBe('job_id');
    for (const id of ['a', 'build-1', '.hidden', 'a..b', 'x'.repeat(64)]) expect(validateParams('job.get', { job_id: id }).ok).toBe(true);
  });

  it('guards against prototype keys', () => {
    const params = JSON.parse('{"sheets":[{"argv":["a"]}],"env":{"__proto__":{"polluted":"1"}}}');
    expect(failure('job.submit', params)).toEqual({ field: 'env.__proto__', message: 'invalid params: "env.__proto__" is not an allowed key' });
    expect(failure('ping', JSON.parse('{"__proto__":{}}')).field).toBe('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Inherited names are not schema properties.
    expect(failure('ping', { constructor: 1 }).field).toBe('constructor');
    expect(failure('ping', { toString: 1 }).field).toBe('toString');
  });

  it('describes values that are not plain msgpack maps', () => {
    expect(failure('job.submit', { sheets: [{ argv: ['a'] }], env: [] }).message).toMatch(/"env" must be a map, got an array/);
    expect(failure('job.submit', { sheets: [{ argv: ['a'] }], env: new Date(0) }).message).toMatch(/got a timestamp/);
    expect(failure('job.submit', { sheets: [{ argv: ['a'] }], env: Buffer.from('x') }).message).toMatch(/got binary/);
    expect(failure('events.read', { since: 2n ** 64n - 1n }).message).toBe('invalid params: "since" is out of range, got 18446744073709551615');
    expect(failure('events.read', { since: 2 ** 53 }).field).toBe('since');
  });

  it('passes params of a method without a schema through (the server answers -32601 first)', () => {
    expect(validateParams('no.such.method', null)).toEqual({ ok: true, value: {} });
  });
});

describe('validateValue and validateResult', () => {
  it('checks results, with nullable fields and oneOf', () => {
    expect(validateResult('ping', { pong: true, ts: 1.5 }).ok).toBe(true);
    expect(validateResult('ping', { pong: true })).toMatchObject({ ok: false, field: 'ts', message: 'invalid result: "ts" is required' });
    expect(validateResult('debug.emit', { first_seq: null, last_seq: null }).ok).toBe(true);
    // type ["integer", "null"]: nil passes, anything else gets the integer message, absent is still missing.
    expect(validateResult('debug.emit', { first_seq: 'x', last_seq: null })).toMatchObject({
      ok: false,
      field: 'first_seq',
      message: 'invalid result: "first_seq" must be an integer, got string "x"',
    });
    expect(validateResult('debug.emit', { first_seq: null })).toMatchObject({ ok: false, field: 'last_seq', message: 'invalid result: "last_seq" is required' });
    expect(validateResult('monitor.history', { resolution: 'minute', since: 1, minutes: [] }).ok).toBe(true);
    expect(validateResult('monitor.history', { resolution: 'full', since: 1, snapshots: [] }).ok).toBe(true);
    expect(validateResult('monitor.history', { resolution: 'hour', since: 1, minutes: [] })).toMatchObject({ ok: false });
  });

  it('checks events by ref', () => {
    const envelope = { seq: 3, ts: 1.5, type: 'job.queued', job_id: 'a', data: { position: 1 } };
    expect(validateValue('envelope.json#/envelope', envelope).ok).toBe(true);
    expect(validateValue('envelope.json#/envelope', { ...envelope, seq: 0 })).toMatchObject({ ok: false, field: 'seq' });
    expect(validateValue('events.json#/events/job.queued/data', envelope.data).ok).toBe(true);
    expect(validateValue('events.json#/events/job.queued/data', { position: 0 })).toMatchObject({
      ok: false,
      message: 'invalid value: "position" must be at least 1, got 0',
    });
    expect(() => validateValue('events.json#/events/no.such', {})).toThrow(/does not resolve/);
    expect(() => validateValue('../package.json#', {})).toThrow(/unknown schema file/);
  });
});
