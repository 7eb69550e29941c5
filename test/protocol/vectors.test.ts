/**
 * The golden vectors in protocol/vectors/frames.json are the wire format: the encoder must
 * produce exactly their bytes, and the decoder must read them back — whole, byte by byte,
 * and with every frame concatenated into one stream.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameError, decodeValue, encodeFrame } from '../../src/ipc/framing.js';

const { vectors } = JSON.parse(fs.readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ name: string; hex: string; value: unknown }>;
};

describe('golden vectors', () => {
  it('covers the protocol shapes', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(10);
  });

  for (const v of vectors) {
    it(`${v.name}: encodes to the exact bytes and decodes back`, () => {
      expect(encodeFrame(v.value).toString('hex')).toBe(v.hex);
      const bytes = Buffer.from(v.hex, 'hex');
      expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
      expect(decodeValue(bytes.subarray(4))).toEqual(v.value);
      // Fed one byte at a time, the decoder yields the frame exactly once, at the end.
      const dec = new FrameDecoder();
      const frames: Buffer[] = [];
      for (const b of bytes) frames.push(...dec.push(Buffer.from([b])));
      expect(frames).toHaveLength(1);
      expect(decodeValue(frames[0]!)).toEqual(v.value);
    });
  }

  it('splits a stream of all vectors concatenated, whatever the chunking', () => {
    const stream = Buffer.concat(vectors.map((v) => Buffer.from(v.hex, 'hex')));
    for (const chunk of [1, 3, 7, 64, stream.length]) {
      const dec = new FrameDecoder();
      const out: unknown[] = [];
      for (let at = 0; at < stream.length; at += chunk) {
        for (const f of dec.push(stream.subarray(at, at + chunk))) out.push(decodeValue(f));
      }
      expect(out).toEqual(vectors.map((v) => v.value));
      expect(dec.bufferedBytes).toBe(0);
    }
  });
});

describe('FrameDecoder bounds', () => {
  it('rejects a zero length', () => {
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0]))).toThrow(FrameError);
  });

  it('rejects an oversized length before buffering the body', () => {
    const dec = new FrameDecoder(1024);
    expect(() => dec.push(Buffer.from([0, 0, 4, 1, 9, 9]))).toThrow(/exceeds the limit of 1024/);
    expect(dec.bufferedBytes).toBe(0);
  });

  it('never holds more than one maximal frame', () => {
    const max = 4096;
    const dec = new FrameDecoder(max);
    const body = Buffer.alloc(max, 1);
    const frame = Buffer.concat([Buffer.from([0, 0, 16, 0]), body]);
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      for (let at = 0; at < frame.length; at += 1000) {
        dec.push(frame.subarray(at, at + 1000));
        peak = Math.max(peak, dec.bufferedBytes);
      }
    }
    expect(peak).toBeLessThanOrEqual(max + 4);
  });

  it('reports malformed MessagePack as an error, including the unused byte 0xc1', () => {
    expect(() => decodeValue(Buffer.from([0xc1]))).toThrow(/0xc1/);
    expect(() => decodeValue(Buffer.from([0x93, 0x01]))).toThrow();
    expect(() => decodeValue(Buffer.from([0x01, 0x02]))).toThrow();
  });
});
