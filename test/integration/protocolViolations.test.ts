/**
 * Garbage in: clear errors out, the conductor keeps serving everyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, encodeValue } from '../../src/ipc/framing.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { RawClient } from '../helpers/rawClient.js';
import { useConductor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ client: false });
let bystander: RawClient;
let nextId = 1000;

async function bystanderStillServed(): Promise<void> {
  const id = nextId++;
  bystander.request(id, 'ping', {});
  const [, , error, result] = await bystander.response(id);
  expect(error).toBeNull();
  expect(result.pong).toBe(true);
}

function frameOf(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

// A raw client that sends nothing wrong: it must be served throughout.
beforeAll(async () => {
  bystander = await RawClient.connect(fixture.conductor.socketPath);
});
afterAll(() => bystander?.close());

describe('protocol violations', () => {
  it('answers malformed MessagePack with a parse error and keeps the connection', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.send(frameOf(Buffer.from([0xc1]))); // 0xc1 is never used in msgpack
    c.send(frameOf(Buffer.from([0x01, 0x02]))); // two values in one frame
    await c.waitFor(() => c.messages.filter((m: any) => m[1] === 'server.error').length >= 2);
    for (const err of c.messages as any[]) {
      expect(err[2].code).toBe(ErrorCode.PARSE_ERROR);
      expect(err[2].message).toMatch(/malformed MessagePack/);
    }
    c.request(1, 'ping', {});
    expect((await c.response(1))[3].pong).toBe(true);
    c.close();
    await bystanderStillServed();
  });

  it('answers truncated MessagePack inside a complete frame with a parse error', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    const whole = encodeValue([0, 1, 'ping', { a: 'hello world' }]);
    c.send(frameOf(whole.subarray(0, whole.length - 4)));
    const err = await c.waitFor((m) => Array.isArray(m) && m[1] === 'server.error');
    expect(err[2].code).toBe(ErrorCode.PARSE_ERROR);
    c.close();
    await bystanderStillServed();
  });

  it('rejects wrong message shapes with invalid-request errors', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.send(encodeFrame({ not: 'an array' }));
    c.send(encodeFrame([7, 1, 'ping', {}]));
    c.send(encodeFrame([0, 'one', 'ping', {}]));
    c.send(encodeFrame([0, 5, 42, {}]));
    c.send(encodeFrame([0, 6, 'ping']));
    c.send(encodeFrame([0, 7, 'ping', [1, 2]]));
    const errors = () => c.messages.filter((m: any) => m[1] === 'server.error');
    await c.waitFor(() => errors().length >= 3);
    for (const e of errors() as any[]) expect(e[2].code).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.response(5))[2].code).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.response(6))[2].code).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.response(7))[2].code).toBe(ErrorCode.INVALID_PARAMS);
    c.close();
    await bystanderStillServed();
  });

  it('rejects unknown methods and bad params with codes and field names', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.request(1, 'no.such.method', {});
    c.request(2, 'job.submit', { sheets: [{ argv: [] }] });
    c.request(3, 'job.get', { job_id: '../../etc/passwd' });
    c.request(4, 'events.read', { limit: 0 });
    c.request(5, 'job.get', { job_id: 'nope', extra: 1 });
    c.request(6, 'job.get', { job_id: 'does-not-exist' });
    const r1 = await c.response(1);
    expect(r1[2]).toMatchObject({ code: ErrorCode.METHOD_NOT_FOUND, data: { method: 'no.such.method' } });
    const r2 = await c.response(2);
    expect(r2[2].code).toBe(ErrorCode.INVALID_PARAMS);
    expect(r2[2].data.field).toMatch(/sheets\[0\]\.argv/);
    const r3 = await c.response(3);
    expect(r3[2].code).toBe(ErrorCode.INVALID_PARAMS);
    expect(r3[2].data.field).toBe('job_id');
    const r4 = await c.response(4);
    expect(r4[2]).toMatchObject({ code: ErrorCode.INVALID_PARAMS, data: { field: 'limit' } });
    const r5 = await c.response(5);
    expect(r5[2].code).toBe(ErrorCode.INVALID_PARAMS);
    expect(r5[2].message).toMatch(/extra/);
    const r6 = await c.response(6);
    expect(r6[2].code).toBe(ErrorCode.JOB_NOT_FOUND);
    c.close();
    await bystanderStillServed();
  });

  it('closes the connection after a zero-length frame, with an error notification first', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.send(Buffer.from([0, 0, 0, 0]));
    await c.closed;
    const err = c.messages.find((m: any) => m[1] === 'server.error') as any;
    expect(err[2].code).toBe(ErrorCode.FRAME_ERROR);
    await bystanderStillServed();
  });

  it('closes the connection after an oversized declared length, without buffering it', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.send(Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]));
    await c.closed;
    const err = c.messages.find((m: any) => m[1] === 'server.error') as any;
    expect(err[2].code).toBe(ErrorCode.FRAME_ERROR);
    expect(err[2].message).toMatch(/exceeds the limit/);
    await bystanderStillServed();
  });

  it('survives a client that disconnects mid-frame', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    const frame = encodeFrame([0, 1, 'ping', { pad: 'x'.repeat(1000) }]);
    c.send(frame.subarray(0, 500));
    c.close();
    await c.closed;
    await bystanderStillServed();
  });

  it('documents and validates every method the server announces', async () => {
    const fs = await import('node:fs');
    const doc = fs.readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
    const schemas = JSON.parse(fs.readFileSync(new URL('../../protocol/schemas/methods.json', import.meta.url), 'utf8')).methods;
    bystander.request(77, 'hello', {});
    const [, , , hello] = await bystander.response(77);
    expect(hello.methods.length).toBeGreaterThan(10);
    for (const method of hello.methods as string[]) {
      expect(doc, `${method} in PROTOCOL.md`).toContain(`\`${method}\``);
      expect(schemas[method], `${method} in methods.json`).toBeDefined();
    }
  });

  it('handles requests on one connection independently and out of order', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    // A subscription stays open; calls on the same connection still get answers.
    c.request(1, 'daemon.monitor.stream', {});
    await c.response(1);
    for (let i = 2; i < 50; i++) c.request(i, 'ping', {});
    for (let i = 2; i < 50; i++) expect((await c.response(i))[3].pong).toBe(true);
    c.close();
  });
});
