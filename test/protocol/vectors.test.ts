/**
 * The golden vectors in protocol/vectors/frames.json are the wire format: the encoder must
 * produce exactly their bytes, and the decoder must read them back — whole, byte by byte,
 * and with every frame concatenated into one stream. The annotated frames in PROTOCOL.md
 * are checked the same way, so the hand-explained bytes cannot drift from the codec.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameError, decodeValue, encodeFrame } from '../../src/ipc/framing.js';
import { validateParams, validateResult, validateValue } from '../../src/ipc/schema.js';

interface Vector {
  name: string;
  description: string;
  kind?: string;
  hex: string;
  value: unknown;
}
const frames = JSON.parse(fs.readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8')) as {
  vectors: Vector[];
  decode_only: Vector[];
};
const { vectors } = frames;

function decodeStream(stream: Buffer, chunk: number, decoder = new FrameDecoder()): unknown[] {
  const out: unknown[] = [];
  for (let at = 0; at < stream.length; at += chunk) {
    for (const f of decoder.push(stream.subarray(at, at + chunk))) out.push(decodeValue(f));
  }
  expect(decoder.bufferedBytes).toBe(0);
  return out;
}

describe('golden vectors', () => {
  it('cover the shapes the brief lists', () => {
    const names = vectors.map((v) => v.name);
    for (const n of ['hello request', 'hello response', 'error response', 'stream.event', 'stream.caught_up', 'stream.lagged', 'server.error', 'request with nil params', 'unicode', 'negative integers', 'float timestamp', 'nested arrays', 'seq beyond 2^32']) {
      expect(names).toContain(n);
    }
  });

  for (const v of vectors) {
    it(`${v.name}: encodes to the exact bytes and decodes back`, () => {
      expect(encodeFrame(v.value).toString('hex')).toBe(v.hex);
      const bytes = Buffer.from(v.hex, 'hex');
      expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
      expect(decodeValue(bytes.subarray(4))).toEqual(v.value);
      // Fed one byte at a time, the decoder yields the frame exactly once, at the end.
      expect(decodeStream(bytes, 1)).toEqual([v.value]);
    });
  }

  for (const v of frames.decode_only) {
    it(`decodes a frame another encoder would write: ${v.name}`, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      expect(decodeStream(bytes, bytes.length)).toEqual([v.value]);
      // The same value, which the conductor itself encodes differently.
      expect(encodeFrame(v.value).toString('hex')).not.toBe(v.hex);
    });
  }

  it('hold values that satisfy the protocol schemas', () => {
    for (const v of vectors) {
      const msg = v.value as unknown[];
      if (v.kind === 'request') {
        expect(validateParams(msg[2] as string, msg[3]), v.name).toMatchObject({ ok: true });
      } else if (v.kind?.startsWith('response:')) {
        expect(validateResult(v.kind.slice('response:'.length), msg[3]), v.name).toMatchObject({ ok: true });
      } else if (v.kind === 'error') {
        expect(validateValue('envelope.json#/error', msg[2]), v.name).toMatchObject({ ok: true });
      } else if (v.kind === 'notification') {
        expect(validateValue(`envelope.json#/notifications/${msg[1] as string}`, msg[2]), v.name).toMatchObject({ ok: true });
      } else {
        expect(v.kind, v.name).toBe('none');
      }
    }
    const event = (vectors.find((v) => v.name === 'stream.event')!.value as [number, string, { event: { type: string; data: unknown } }])[2].event;
    expect(validateValue(`events.json#/events/${event.type}/data`, event.data)).toMatchObject({ ok: true });
  });

  it('splits a stream of all vectors concatenated, whatever the chunking', () => {
    const all = [...vectors, ...frames.decode_only];
    const stream = Buffer.concat(all.map((v) => Buffer.from(v.hex, 'hex')));
    for (const chunk of [1, 2, 3, 4, 5, 7, 64, stream.length]) {
      expect(decodeStream(stream, chunk), `chunk ${chunk}`).toEqual(all.map((v) => v.value));
    }
  });
});

describe('the annotated frames in PROTOCOL.md', () => {
  // A ```frame block: `value: <json>`, then lines whose leading hex pairs are the bytes.
  const doc = fs.readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```frame\n([\s\S]*?)```/g)].map((m) => {
    const lines = m[1]!.split('\n');
    const value = JSON.parse(lines[0]!.replace(/^value:\s*/, '')) as unknown;
    let hex = '';
    for (const line of lines.slice(1)) {
      for (const token of line.trim().split(/\s+/)) {
        if (!/^[0-9a-f]{2}$/.test(token)) break;
        hex += token;
      }
    }
    return { value, hex };
  });

  it('exist', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it('are exactly what the encoder writes', () => {
    for (const b of blocks) expect(encodeFrame(b.value).toString('hex'), JSON.stringify(b.value)).toBe(b.hex);
  });
});

describe('FrameDecoder bounds', () => {
  it('rejects a zero length, and is unusable afterwards', () => {
    const dec = new FrameDecoder();
    expect(() => dec.push(Buffer.from([0, 0, 0, 0]))).toThrow(FrameError);
    expect(() => dec.push(Buffer.from(vectors[0]!.hex, 'hex'))).toThrow(FrameError);
  });

  it('rejects an oversized length before buffering the body, even split across chunks', () => {
    const dec = new FrameDecoder(1024);
    expect(() => dec.push(Buffer.from([0, 0, 4, 1, 9, 9]))).toThrow(/exceeds the limit of 1024/);
    expect(dec.bufferedBytes).toBe(0);
    const split = new FrameDecoder(1024);
    expect(split.push(Buffer.from([0, 0]))).toEqual([]);
    let thrown: unknown;
    try {
      split.push(Buffer.from([4, 1]));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FrameError);
    expect((thrown as FrameError).declaredLength).toBe(1025);
  });

  it('accepts a frame of exactly the maximum', () => {
    const dec = new FrameDecoder(16);
    const body = Buffer.alloc(16, 0xc0);
    expect(dec.push(Buffer.concat([Buffer.from([0, 0, 0, 16]), body]))).toEqual([body]);
  });

  it('never holds more than max + 4 bytes, however the peer chunks its frames', () => {
    const max = 4096;
    const dec = new FrameDecoder(max);
    const frame = Buffer.concat([Buffer.from([0, 0, 16, 0]), Buffer.alloc(max, 1)]);
    const stream = Buffer.concat(Array.from({ length: 20 }, () => frame));
    let peak = 0;
    let count = 0;
    for (const chunk of [1000, 4099, 4100, 4101, 9000]) {
      for (let at = 0; at < stream.length; at += chunk) {
        count += dec.push(stream.subarray(at, at + chunk)).length;
        peak = Math.max(peak, dec.bufferedBytes);
      }
    }
    expect(count).toBe(100);
    expect(peak).toBeLessThanOrEqual(max + 4);
  });

  it('reports malformed MessagePack as an error, including the unused byte 0xc1', () => {
    expect(() => decodeValue(Buffer.from([0xc1]))).toThrow(/0xc1/);
    expect(() => decodeValue(Buffer.from([0x93, 0x01]))).toThrow();
    expect(() => decodeValue(Buffer.from([0x01, 0x02]))).toThrow();
    expect(() => decodeValue(Buffer.from([0xd5, 0x01, 0x00, 0xff]))).toThrow(/extension/);
  });

  it('decodes 64-bit integers as numbers within 2^53 and bigint beyond (never silently rounded)', () => {
    expect(decodeValue(Buffer.from('cf0020000000000000', 'hex'))).toBe(2 ** 53);
    expect(decodeValue(Buffer.from('d3ffe0000000000000', 'hex'))).toBe(-(2 ** 53));
    expect(decodeValue(Buffer.from('cfffffffffffffffff', 'hex'))).toBe(2n ** 64n - 1n);
  });
});
