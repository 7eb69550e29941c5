/**
 * Everything a connection sends goes through one Outbound queue, written to the socket as a
 * single buffer once per batch of work — at the end of the callback that queued it, or of the
 * turn of the event loop when that turn has written already (soon.ts) — never per frame
 * (DESIGN.md: one write per connection per tick is what makes fan-out cheap). The queue only
 * hands data to the socket while the socket's own buffer is small, so "what this connection has queued" is this queue plus a bounded socket
 * buffer — a client that stops reading (Ctrl+Z) makes this queue, and only it, grow, and the
 * subscriptions that own the entries see that growth and apply their overflow policy.
 */
import type { Socket } from 'node:net';
import { Soon } from '../events/soon.js';
import { endSocket, type FrameWriter } from './frameIO.js';
import { FRAME_HEADER_BYTES, encodeFrame, encodeValue, putFrame } from './framing.js';

/** Who an entry belongs to, so per-subscription counts can be kept. */
export interface QueueOwner {
  queuedEvents: number;
  queuedBytes: number;
}

interface Entry {
  /** Bytes placed before `body` inside the frame (e.g. a notification's prefix). */
  prefix: Buffer | undefined;
  body: Buffer;
  owner: QueueOwner | undefined;
  /** 0: `body` is one frame's body (header added here); n > 0: `body` is n whole frames. */
  frames: number;
}

function entrySize(e: Entry): number {
  return e.frames > 0 ? e.body.length : FRAME_HEADER_BYTES + (e.prefix ? e.prefix.length : 0) + e.body.length;
}

export interface OutboundLimits {
  /** Stop handing data to the socket while its own buffer holds more than this. */
  socketHighWaterBytes: number;
  /** Most bytes put into one socket.write. */
  maxWriteBytes: number;
  /** Beyond this many queued bytes the connection is beyond saving and gets destroyed. */
  hardLimitBytes: number;
}

export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = {
  socketHighWaterBytes: 256 * 1024,
  maxWriteBytes: 1024 * 1024,
  hardLimitBytes: 128 * 1024 * 1024,
};

/** How long a graceful end waits for a peer that does not read. */
const GRACEFUL_END_MS = 2000;

/** The server's FrameWriter: bounded, one socket write per batch, backpressure per owner. */
export class Outbound implements FrameWriter {
  private entries: Entry[] = [];
  private head = 0; // index of the first unsent entry (avoids O(n) shift)
  private bytes = 0;
  private readonly flushSoon = new Soon(() => this.flush());
  private waitingForDrain = false;
  private closed = false;
  /** Called after each write, so owners can leave overflow states. */
  onFlushed: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly limits: OutboundLimits,
    private readonly onHardLimit: () => void,
  ) {
    socket.on('drain', () => {
      this.waitingForDrain = false;
      this.schedule();
      this.onFlushed?.(); // the socket's buffer shrank: owners may have room again
    });
  }

  /** Bytes waiting here plus bytes the socket itself still holds. */
  get backlogBytes(): number {
    return this.bytes + this.socket.writableLength;
  }

  /** Bytes the socket itself still holds (not yet taken by the kernel). */
  get socketBufferedBytes(): number {
    return this.socket.writableLength;
  }

  get queuedEntries(): number {
    return this.entries.length - this.head;
  }

  write(message: unknown): void {
    this.push(encodeValue(message));
  }

  abort(last?: unknown): void {
    this.close();
    endSocket(this.socket, last === undefined ? undefined : encodeFrame(last));
  }

  /** Write everything queued, then end the stream; a peer that does not read is cut off. */
  endWhenWritten(): void {
    const finish = () => {
      if (this.closed) return;
      if (this.queuedEntries === 0) this.abort();
      else setTimeout(finish, 20);
    };
    finish();
    setTimeout(() => this.socket.destroy(), GRACEFUL_END_MS).unref();
  }

  /** Queue one frame whose body is `prefix + body` (prefix optional). */
  push(body: Buffer, prefix?: Buffer, owner?: QueueOwner): void {
    if (this.closed) return;
    const entry: Entry = { prefix, body, owner, frames: 0 };
    const size = entrySize(entry);
    this.entries.push(entry);
    this.bytes += size;
    if (owner) {
      owner.queuedEvents += 1;
      owner.queuedBytes += size;
    }
    this.afterPush();
  }

  /** Queue `count` frames that are already framed (header included), back to back in `frames`. */
  pushFrames(frames: Buffer, count: number, owner?: QueueOwner): void {
    if (this.closed || count === 0) return;
    this.entries.push({ prefix: undefined, body: frames, owner, frames: count });
    this.bytes += frames.length;
    if (owner) {
      owner.queuedEvents += count;
      owner.queuedBytes += frames.length;
    }
    this.afterPush();
  }

  private afterPush(): void {
    if (this.bytes > this.limits.hardLimitBytes) {
      this.close();
      this.onHardLimit();
      return;
    }
    this.schedule();
  }

  close(): void {
    this.closed = true;
    for (let i = this.head; i < this.entries.length; i++) {
      const owner = this.entries[i]!.owner;
      if (owner) {
        owner.queuedEvents = 0;
        owner.queuedBytes = 0;
      }
    }
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  private schedule(): void {
    if (this.waitingForDrain || this.closed) return;
    this.flushSoon.schedule();
  }

  private flush(): void {
    if (this.closed || this.socket.destroyed) return;
    if (this.queuedEntries === 0) return;
    if (this.socket.writableLength > this.limits.socketHighWaterBytes) {
      this.waitingForDrain = true;
      return;
    }
    // Gather entries up to maxWriteBytes (always at least one) into one buffer.
    let total = 0;
    let end = this.head;
    while (end < this.entries.length) {
      const e = this.entries[end]!;
      const size = entrySize(e);
      if (total > 0 && total + size > this.limits.maxWriteBytes) break;
      total += size;
      end++;
    }
    // A single pre-framed entry goes out as it is, without a copy.
    const single = end === this.head + 1 && this.entries[this.head]!.frames > 0 ? this.entries[this.head]!.body : undefined;
    const out = single ?? Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = this.head; i < end; i++) {
      const e = this.entries[i]!;
      if (e.frames > 0) {
        if (!single) e.body.copy(out, at);
        at += e.body.length;
        if (e.owner) {
          e.owner.queuedEvents -= e.frames;
          e.owner.queuedBytes -= e.body.length;
        }
        continue;
      }
      const start = at;
      at = putFrame(out, at, e.body, e.prefix);
      if (e.owner) {
        e.owner.queuedEvents -= 1;
        e.owner.queuedBytes -= at - start;
      }
    }
    this.head = end;
    this.bytes -= total;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    const flushed = this.socket.write(out);
    this.onFlushed?.();
    if (!flushed) this.waitingForDrain = true;
    else if (this.queuedEntries > 0) this.schedule();
  }
}
