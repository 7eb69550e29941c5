/**
 * Framing: every message is a 4-byte big-endian length followed by exactly that many bytes
 * holding one MessagePack value. Kept apart from connections so both the server and the
 * client (and tests, and other languages) share one definition.
 */
import { encodeValue } from '../shared/msgpack.js';
import { MSG_NOTIFICATION } from './messages.js';

export const FRAME_HEADER_BYTES = 4;
/** Default largest frame body a peer may send; announced in `hello` as limits.max_frame_bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export { decodeValue, encodeValue } from '../shared/msgpack.js';

/**
 * Write one frame, header then `prefix + body`, into `out` at `at`; returns where it ended.
 * The only place the code writes a frame header (replay pages are framed by SQLite itself, in
 * eventReader.ts): a batch of frames is built in one buffer this way.
 */
export function putFrame(out: Buffer, at: number, body: Buffer, prefix?: Buffer): number {
  const prefixLength = prefix ? prefix.length : 0;
  out.writeUInt32BE(prefixLength + body.length, at);
  at += FRAME_HEADER_BYTES;
  if (prefix) at += prefix.copy(out, at);
  return at + body.copy(out, at);
}

/** Header + body for a value that is already encoded. */
export function frameBytes(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  putFrame(out, 0, body);
  return out;
}

export function encodeFrame(value: unknown): Buffer {
  return frameBytes(encodeValue(value));
}

/**
 * The bytes of `[MSG_NOTIFICATION, method, {...fields, [lastKey]: <value>}]` up to <value>.
 * MessagePack values concatenate, so appending a value that is already encoded (a stored
 * event) completes the message without decoding and re-encoding it.
 */
export function notificationPrefix(method: string, fields: Record<string, unknown>, lastKey: string): Buffer {
  const keys = Object.keys(fields).length + 1;
  // fixarray of 3 and fixmap headers: enough for the few keys a notification has.
  if (keys > 15) throw new Error(`notificationPrefix: ${keys} keys do not fit a fixmap`);
  const parts = [Buffer.from([0x90 | 3]), encodeValue(MSG_NOTIFICATION), encodeValue(method), Buffer.from([0x80 | keys])];
  for (const [key, value] of Object.entries(fields)) parts.push(encodeValue(key), encodeValue(value));
  parts.push(encodeValue(lastKey));
  return Buffer.concat(parts);
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly declaredLength: number,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Incremental frame splitter. `push` a chunk and get back the complete frame bodies it
 * finished. Holds at most one partial frame (≤ maxFrameBytes + header), so a peer cannot
 * grow it beyond the announced limit. A zero or oversized declared length throws FrameError;
 * the decoder is then unusable (the stream is out of sync) and the connection must close.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1; // body length of the frame being read, -1 while reading a header
  private broken = false;

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * `frames` collects the bodies; pass your own array to keep the frames that came before a
   * bad length in the same chunk (they are whole and valid) when push throws.
   */
  push(chunk: Buffer, frames: Buffer[] = []): Buffer[] {
    if (this.broken) throw new FrameError('frame stream is out of sync', -1);
    if (chunk.length === 0) return frames;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const length = this.peekHeader();
        if (length === 0 || length > this.maxFrameBytes) {
          this.broken = true;
          this.chunks = [];
          this.buffered = 0;
          throw new FrameError(
            length === 0
              ? 'frame length 0 is not allowed'
              : `frame length ${length} exceeds the limit of ${this.maxFrameBytes} bytes`,
            length,
          );
        }
        this.take(FRAME_HEADER_BYTES);
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = -1;
    }
    return frames;
  }

  private peekHeader(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const need = n - filled;
      if (c.length <= need) {
        out.set(c, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        out.set(c.subarray(0, need), filled);
        this.chunks[0] = c.subarray(need);
        filled += need;
      }
    }
    this.buffered -= n;
    return out;
  }
}
