/**
 * The frame reader and writers over real Unix sockets: whole frames however the bytes are
 * cut, one clear error on a bad length and silence after it, and how each writer ends.
 */
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ChunkFrameReader, SocketFrameWriter, socketFrameReader } from '../../src/ipc/frameIO.js';
import { FrameError, decodeValue, encodeFrame } from '../../src/ipc/framing.js';
import { DEFAULT_OUTBOUND_LIMITS, Outbound } from '../../src/ipc/outbound.js';
import { socketPair } from './socketPair.js';

/** Everything the peer sends until it ends the stream, decoded. */
function readToEnd(socket: net.Socket): Promise<{ messages: unknown[]; errors: FrameError[] }> {
  const messages: unknown[] = [];
  const errors: FrameError[] = [];
  socketFrameReader(socket, 1024 * 1024).listen(
    (body) => messages.push(decodeValue(body)),
    (err) => errors.push(err),
  );
  return new Promise((resolve) => socket.once('end', () => resolve({ messages, errors })));
}

const tick = () => new Promise((r) => setImmediate(r));

describe('FrameReader', () => {
  it('hands over whole frames from a socket, cut anywhere', async () => {
    const { server, client } = await socketPair();
    const read = readToEnd(server);
    const stream = Buffer.concat([encodeFrame([0, 1, 'ping', {}]), encodeFrame({ big: 'x'.repeat(5000) }), encodeFrame(7)]);
    for (const cut of [1, 3, 4, 5, 100, 4000]) {
      const at = stream.length - cut;
      client.write(stream.subarray(0, 1));
      await tick();
      client.write(stream.subarray(1, at));
      await tick();
      client.write(stream.subarray(at));
      await tick();
    }
    client.end();
    const { messages, errors } = await read;
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(18);
    expect(messages.slice(0, 3)).toEqual([[0, 1, 'ping', {}], { big: 'x'.repeat(5000) }, 7]);
  });

  it('reports an oversized or empty frame once, clearly, and hands over nothing after it', () => {
    for (const [length, text] of [[1025, /frame length 1025 exceeds the limit of 1024 bytes/], [0, /frame length 0 is not allowed/]] as const) {
      const reader = new ChunkFrameReader(1024);
      const frames: unknown[] = [];
      const errors: FrameError[] = [];
      reader.listen((body) => frames.push(decodeValue(body)), (err) => errors.push(err));
      const bad = Buffer.alloc(4);
      bad.writeUInt32BE(length, 0);
      reader.receive(Buffer.concat([encodeFrame('before'), bad, encodeFrame('after')]));
      reader.receive(encodeFrame('later'));
      expect(frames).toEqual(['before']);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(text);
      expect(errors[0]!.declaredLength).toBe(length);
    }
  });
});

describe('FrameWriter', () => {
  it('socket writer: each message one frame; abort ends the stream after the last message', async () => {
    const { server, client } = await socketPair();
    const read = readToEnd(client);
    const writer = new SocketFrameWriter(server);
    writer.write([2, 'a', { n: 1 }]);
    writer.write([2, 'b', { n: 2 }]);
    writer.abort([2, 'server.error', { code: -32010, message: 'bye' }]);
    writer.write('after the end is dropped');
    expect((await read).messages).toEqual([[2, 'a', { n: 1 }], [2, 'b', { n: 2 }], [2, 'server.error', { code: -32010, message: 'bye' }]]);
  });

  it('Outbound: abort drops what is still queued and sends only the last message', async () => {
    const { server, client } = await socketPair();
    const read = readToEnd(client);
    const out = new Outbound(server, DEFAULT_OUTBOUND_LIMITS, () => undefined);
    out.write('queued 1');
    out.write('queued 2'); // nothing is written before the end of this callback
    out.abort('last');
    out.write('after the end');
    expect((await read).messages).toEqual(['last']);
  });

  it('Outbound: endWhenWritten writes every queued message, then ends', async () => {
    const { server, client } = await socketPair();
    client.pause(); // the queue has to wait for the peer
    const read = readToEnd(client);
    const out = new Outbound(server, DEFAULT_OUTBOUND_LIMITS, () => undefined);
    const pad = 'p'.repeat(64 * 1024);
    for (let i = 0; i < 40; i++) out.write({ i, pad });
    out.endWhenWritten();
    await new Promise((r) => setTimeout(r, 50));
    expect(out.queuedEntries).toBeGreaterThan(0);
    client.resume();
    const { messages } = await read;
    expect(messages.map((m) => (m as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});
