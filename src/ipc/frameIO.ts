/**
 * Framing behind two small interfaces, so a connection is built from a reader and a writer
 * and never handles frame headers itself (framing.ts defines the bytes):
 *   FrameReader: bytes in, whole frame bodies out, bounded by the frame size limit. A zero or
 *     oversized length is reported once as a FrameError, then the reader stays silent: the
 *     stream is out of sync from there on and its connection has to close.
 *   FrameWriter: messages out, one frame each; `abort` ends the stream with a last message.
 * The server's writer is Outbound (a bounded queue written once per tick, with backpressure);
 * the client writes straight to its socket (its requests are small and few).
 */
import type { Socket } from 'node:net';
import { FrameDecoder, FrameError, encodeFrame } from './framing.js';

export interface FrameReader {
  /** The one consumer: each frame body in order, or the framing error that ends the stream. */
  listen(onFrame: (body: Buffer) => void, onError: (err: FrameError) => void): void;
}

export interface FrameWriter {
  /** Send one message; it is encoded and framed here. */
  write(message: unknown): void;
  /** Send nothing more: drop what is unsent, write `last` if given, and end the stream. */
  abort(last?: unknown): void;
}

const ignoreFrame = (): void => undefined;
const ignoreError = (): void => undefined;

/** A reader fed chunk by chunk by whoever owns the byte source. */
export class ChunkFrameReader implements FrameReader {
  private readonly decoder: FrameDecoder;
  private onFrame: (body: Buffer) => void = ignoreFrame;
  private onError: (err: FrameError) => void = ignoreError;
  private failed = false;

  constructor(maxFrameBytes: number) {
    this.decoder = new FrameDecoder(maxFrameBytes);
  }

  listen(onFrame: (body: Buffer) => void, onError: (err: FrameError) => void): void {
    this.onFrame = onFrame;
    this.onError = onError;
  }

  /** Raw bytes from the peer, in the order they came. */
  receive(chunk: Buffer): void {
    if (this.failed) return;
    const frames: Buffer[] = [];
    let error: FrameError | undefined;
    try {
      this.decoder.push(chunk, frames);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      error = err;
    }
    // The frames before a bad length are whole: they are handled before the error.
    for (let i = 0; i < frames.length; i++) this.onFrame(frames[i]!);
    if (error) {
      this.failed = true;
      this.onError(error);
    }
  }
}

/**
 * A reader on a socket's own 'data' events (the client, the hello probe). The server feeds a
 * ChunkFrameReader instead: node-ipc owns its sockets' data events and their latin1 decoding.
 */
export function socketFrameReader(socket: Socket, maxFrameBytes: number): FrameReader {
  const reader = new ChunkFrameReader(maxFrameBytes);
  socket.on('data', (chunk: Buffer) => reader.receive(chunk));
  return reader;
}

/** How long a peer that does not read may keep an ended socket half-open. */
export const END_GRACE_MS = 1000;

/** Writes each message straight to the socket, with no queue of its own. */
export class SocketFrameWriter implements FrameWriter {
  constructor(private readonly socket: Socket) {}

  write(message: unknown): void {
    // After an end, a write would only raise an error on the socket: drop it instead.
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(encodeFrame(message));
  }

  abort(last?: unknown): void {
    endSocket(this.socket, last === undefined ? undefined : encodeFrame(last));
  }
}

/** End a socket after `last` (if any), and destroy it if the peer does not close in time. */
export function endSocket(socket: Socket, last: Buffer | undefined): void {
  if (socket.destroyed || socket.writableEnded) return;
  if (last) socket.end(last);
  else socket.end();
  setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
}
