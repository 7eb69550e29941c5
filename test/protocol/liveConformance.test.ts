/**
 * The schemas describe the real conductor: against a real conductor process (compiled, on a
 * temp MZT_HOME), every method's actual result validates against its result schema, every
 * notification against envelope.json, every event's data against events.json — for jobs that
 * complete, fail and are cancelled. A schema that drifts from the code fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodNames, resolveRef, validateResult, validateValue } from '../../src/ipc/schema.js';
import { useConductor } from '../helpers/conductorProcess.js';
import { RawClient } from '../helpers/rawClient.js';
import { ajvErrors } from '../helpers/standardSchemas.js';

const fixture = useConductor({
  prefix: 'mzt-protocol-',
  client: false,
  env: { MZT_DEBUG_METHODS: '1' },
  config: { profiler_interval_seconds: 0.2, monitor_interval_seconds: 0.2, kill_grace_seconds: 1 },
});
let client: RawClient;
let nextId = 1;

/** Call a method and return its result, failing the test on an error response. */
async function call(method: string, params: unknown = {}): Promise<any> {
  const id = nextId++;
  client.request(id, method, params);
  const [, , error, result] = await client.response(id, 10_000);
  if (error) throw new Error(`${method} failed: ${JSON.stringify(error)}`);
  const checked = validateResult(method, result);
  expect(checked, `${method} result ${JSON.stringify(result).slice(0, 400)}`).toMatchObject({ ok: true });
  // A standard validator (ajv, strict) reaches the same verdict on the live result.
  expect(ajvErrors(`methods.json#/methods/${method}/result`, result), `${method} result (ajv)`).toBeNull();
  return result;
}

function notifications(): Array<[number, string, any]> {
  return client.messages.filter((m: any) => Array.isArray(m) && m[0] === 2) as Array<[number, string, any]>;
}

function eventsOfType(type: string): any[] {
  return notifications()
    .filter((m) => m[1] === 'stream.event' && m[2].event.type === type)
    .map((m) => m[2].event);
}

async function waitForEvent(pred: (ev: any) => boolean, what: string): Promise<any> {
  const m = await client.waitFor((msg: any) => Array.isArray(msg) && msg[0] === 2 && msg[1] === 'stream.event' && pred(msg[2].event), 15_000).catch(() => {
    throw new Error(`no event: ${what}`);
  });
  return m[2].event;
}

beforeAll(async () => {
  client = await RawClient.connect(fixture.conductor.socketPath);
});
afterAll(() => client?.close());

describe('a real conductor conforms to the schemas', () => {
  it('announces exactly the methods that have schemas', async () => {
    const hello = await call('hello', { protocol_version: 1, client: 'conformance' });
    expect([...hello.methods].sort()).toEqual(methodNames().sort());
  });

  it('answers every method with a result matching its schema, and sends conforming events', async () => {
    const sub = await call('daemon.monitor.stream', { since: 0, include_snapshots: true });
    await client.waitFor((m: any) => m[0] === 2 && m[1] === 'stream.caught_up' && m[2].subscription === sub.subscription);

    const ok = await call('job.submit', { job_id: 'ok', name: 'ok job', env: { A: '1' }, sheets: [{ argv: ['echo', 'hello'], name: 'greet' }, { argv: ['true'] }] });
    const bad = await call('job.submit', { job_id: 'bad', sheets: [{ argv: ['false'] }, { argv: ['true'] }] });
    const missing = await call('job.submit', { job_id: 'missing', sheets: [{ argv: ['/nonexistent/program'] }] });
    const slow = await call('job.submit', { job_id: 'slow', sheets: [{ argv: ['sleep', '30'], timeout_seconds: 60 }] });
    expect([ok.job_id, bad.job_id, missing.job_id, slow.job_id]).toEqual(['ok', 'bad', 'missing', 'slow']);

    await waitForEvent((e) => e.type === 'job.completed' && e.job_id === 'ok', 'ok completed');
    await waitForEvent((e) => e.type === 'job.failed' && e.job_id === 'bad', 'bad failed');
    await waitForEvent((e) => e.type === 'job.failed' && e.job_id === 'missing', 'missing failed');
    await waitForEvent((e) => e.type === 'sheet.started' && e.job_id === 'slow', 'slow started');
    await call('job.cancel', { job_id: 'slow', reason: 'conformance test' });
    await waitForEvent((e) => e.type === 'job.cancelled' && e.job_id === 'slow', 'slow cancelled');
    await waitForEvent((e) => e.type === 'monitor.snapshot', 'a snapshot');

    await call('ping');
    await call('daemon.status');
    await call('daemon.health');
    await call('daemon.config');
    const page = await call('events.read', { since: 0, limit: 5 });
    expect(page.has_more).toBe(true);
    await call('events.read', { job_id: 'ok', types: ['sheet.'] });
    expect((await call('job.get', { job_id: 'ok' })).status).toBe('completed');
    expect((await call('job.get', { job_id: 'slow' })).status).toBe('cancelled');
    await call('job.list', {});
    await call('job.list', { status: ['failed'], limit: 1 });
    const tail = await call('job.logs', { job_id: 'ok' });
    expect(tail.lines.some((l: string) => l.includes('hello'))).toBe(true);
    await call('job.logs', { job_id: 'ok', offset: 0, max_bytes: 100 });
    await call('debug.emit', { count: 3, size: 4 });
    await call('monitor.snapshot');
    await call('monitor.history', { since: 0, limit: 5 });
    await call('monitor.history', { since: 0, resolution: 'minute' });
    await call('monitor.process_history', { pid: fixture.conductor.pid, since: 0, limit: 5 });
    await call('monitor.resource_report', { job_id: 'ok' });
    await call('monitor.resource_report', { job_id: 'slow' });
    await call('unsubscribe', { subscription: sub.subscription });

    // Every notification and every event the conductor sent on the way.
    const seen = new Set<string>();
    for (const [, method, params] of notifications()) {
      expect(validateValue(`envelope.json#/notifications/${method}`, params), `${method} ${JSON.stringify(params).slice(0, 300)}`).toMatchObject({ ok: true });
      if (method !== 'stream.event') continue;
      const ev = params.event;
      seen.add(ev.type);
      expect(validateValue('envelope.json#/envelope', ev)).toMatchObject({ ok: true });
      const checked = validateValue(`events.json#/events/${ev.type}/data`, ev.data);
      expect(checked, `${ev.type} ${JSON.stringify(ev.data).slice(0, 300)}`).toMatchObject({ ok: true });
      expect(ajvErrors(`events.json#/events/${ev.type}/data`, ev.data), `${ev.type} (ajv)`).toBeNull();
      expect(ajvErrors(`envelope.json#/notifications/${method}`, params), `${method} (ajv)`).toBeNull();
      // The envelope tags events.json promises for the type.
      const { tags, tags_optional } = resolveRef(`events.json#/events/${ev.type}`) as unknown as { tags: string; tags_optional?: boolean };
      if (!(tags_optional && ev.job_id === undefined)) {
        expect(ev.job_id !== undefined, `${ev.type} job_id`).toBe(tags !== 'none');
        expect(ev.sheet_num !== undefined, `${ev.type} sheet_num`).toBe(tags === 'sheet');
      }
    }
    for (const type of ['daemon.started', 'job.submitted', 'job.started', 'sheet.started', 'process.spawn', 'process.exit', 'sheet.completed', 'sheet.failed', 'job.completed', 'job.failed', 'job.cancelled', 'debug.burst', 'monitor.snapshot']) {
      expect(seen, type).toContain(type);
    }
    // Ephemeral events have no seq; durable ones always do.
    for (const ev of eventsOfType('monitor.snapshot')) expect(ev.seq).toBeUndefined();
    for (const ev of eventsOfType('job.submitted')) expect(ev.seq).toBeGreaterThan(0);
  });

  it('rejects what the schemas reject, naming the field', async () => {
    const id = nextId++;
    client.request(id, 'job.submit', { sheets: [{ argv: [] }] });
    const [, , error] = await client.response(id);
    expect(error).toEqual({
      code: -32602,
      message: 'invalid params: "sheets[0].argv" must be a non-empty array of strings',
      data: { field: 'sheets[0].argv' },
    });
  });

  it('ends with daemon.shutdown, whose result also conforms', async () => {
    await call('daemon.shutdown', {});
    const exit = await fixture.conductor.exited;
    expect(exit.code).toBe(0);
  });
});
