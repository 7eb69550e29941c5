/**
 * ServerSubscription logic over a real socket pair: replay → live switch without gap or duplicate,
 * and the overflow policies, with an in-memory log standing in for the store.
 */
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeValue, encodeValue } from '../../src/ipc/framing.js';
import { Outbound, DEFAULT_OUTBOUND_LIMITS } from '../../src/ipc/outbound.js';
import { ServerSubscription, type ReplayableLog, type RawLogRow } from '../../src/ipc/subscription.js';
import { afterThisTest, socketPair } from './socketPair.js';
import { matchesFilter, type EventEnvelope, type EventFilter } from '../../src/events/types.js';

class MemoryLog implements ReplayableLog {
  rows: Array<{ event: EventEnvelope; bytes: Buffer }> = [];
  listeners: Array<(e: EventEnvelope, b: Buffer) => void> = [];
  get headSeq(): number {
    return this.rows.length;
  }
  append(type: string, data: Record<string, unknown> = {}): void {
    const event = { seq: this.rows.length + 1, ts: 1, type, data };
    const bytes = encodeValue(event);
    this.rows.push({ event, bytes });
    for (const l of this.listeners) l(event, bytes);
  }
  readRaw(afterSeq: number, limit: number, filter: EventFilter): RawLogRow[] {
    const out: RawLogRow[] = [];
    for (const r of this.rows.slice(afterSeq)) {
      if (matchesFilter(r.event, filter)) out.push({ seq: r.event.seq!, bytes: r.bytes });
      if (out.length >= limit) break;
    }
    return out;
  }
}

function reader(client: net.Socket): { messages: any[]; until(pred: (m: any) => boolean): Promise<void> } {
  const messages: any[] = [];
  const dec = new FrameDecoder();
  let wake: (() => void) | undefined;
  client.on('data', (c) => {
    for (const f of dec.push(c)) messages.push(decodeValue(f));
    wake?.();
  });
  return {
    messages,
    async until(pred) {
      while (!messages.some(pred)) await new Promise<void>((r) => (wake = r));
    },
  };
}

function setup(server: net.Socket, log: MemoryLog, opts: Partial<ConstructorParameters<typeof ServerSubscription>[0]> = {}) {
  const out = new Outbound(server, DEFAULT_OUTBOUND_LIMITS, () => undefined);
  let disconnected = false;
  const sub = new ServerSubscription(
    { id: 7, filter: {}, includeSnapshots: false, policy: 'lag', maxQueuedEvents: 1000, maxQueuedBytes: 1 << 20, since: 0, ...opts },
    log,
    out,
    () => server.writableLength,
    () => (disconnected = true),
  );
  out.onFlushed = () => sub.onFlushed();
  log.listeners.push((e, b) => sub.deliver(e, b));
  return { sub, out, wasDisconnected: () => disconnected };
}

describe('ServerSubscription', () => {
  it('replays, then goes live with no gap or duplicate while events keep coming', async () => {
    const { server, client } = await socketPair();
    const log = new MemoryLog();
    for (let i = 0; i < 12_000; i++) log.append('a.x', { i });
    const r = reader(client);
    const { sub } = setup(server, log, { since: 100 });
    sub.start();
    // Append during replay, from timers interleaved with replay steps.
    let extra = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 50; i++) log.append('a.y');
      if (++extra === 20) clearInterval(timer);
    }, 1);
    afterThisTest(() => clearInterval(timer));
    await r.until(() => extra === 20 && r.messages.filter((m) => m[1] === 'stream.event').at(-1)?.[2].event.seq === log.headSeq);
    const seqs = r.messages.filter((m) => m[1] === 'stream.event').map((m) => m[2].event.seq);
    expect(seqs[0]).toBe(101);
    expect(seqs).toEqual(Array.from({ length: log.headSeq - 100 }, (_, i) => i + 101));
    const caught = r.messages.findIndex((m) => m[1] === 'stream.caught_up');
    expect(caught).toBeGreaterThan(0);
    expect(r.messages[caught][2].subscription).toBe(7);
  });

  it('lag policy: bounded queue while the peer does not read, then one lagged notice with the count', async () => {
    const { server, client } = await socketPair();
    client.pause();
    const log = new MemoryLog();
    const { sub, out } = setup(server, log, { since: undefined, maxQueuedEvents: 200, maxQueuedBytes: 256 * 1024 });
    sub.start();
    let maxQueued = 0;
    for (let i = 0; i < 20_000; i++) {
      log.append('a.x', { pad: 'y'.repeat(200) });
      maxQueued = Math.max(maxQueued, sub.queuedEvents);
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(maxQueued).toBeLessThanOrEqual(200);
    expect(out.backlogBytes).toBeLessThan(256 * 1024 + DEFAULT_OUTBOUND_LIMITS.maxWriteBytes + DEFAULT_OUTBOUND_LIMITS.socketHighWaterBytes);
    const r = reader(client);
    client.resume();
    // Lag may end and start again while the kernel buffer absorbs some data; the notice sent
    // after the burst reports up to the head.
    await r.until((m) => m[1] === 'stream.lagged' && m[2].head_seq === 20_000);
    log.append('a.after');
    await r.until((m) => m[1] === 'stream.event' && m[2].event.type === 'a.after');
    const events = r.messages.filter((m) => m[1] === 'stream.event' && m[2].event.type === 'a.x');
    const notices = r.messages.filter((m) => m[1] === 'stream.lagged').map((m) => m[2]);
    const lost = notices.reduce((n, l) => n + l.lost, 0);
    expect(events.length + lost).toBe(20_000);
    expect(events[0][2].event.seq).toBe(1);
    // Each notice says where the hole starts: right after the last event delivered before it.
    for (const notice of notices) {
      const before = r.messages.slice(0, r.messages.findIndex((m) => m[2] === notice)).filter((m) => m[1] === 'stream.event');
      expect(notice.resume_from).toBe(before.at(-1)[2].event.seq + 1);
    }
  });

  it('disconnect policy: overflow hands the subscription to the connection to close', async () => {
    const { server, client } = await socketPair();
    client.pause();
    const log = new MemoryLog();
    const { sub, wasDisconnected } = setup(server, log, { since: undefined, policy: 'disconnect', maxQueuedEvents: 50, maxQueuedBytes: 64 * 1024 });
    sub.start();
    for (let i = 0; i < 5000 && !wasDisconnected(); i++) {
      log.append('a.x', { pad: 'y'.repeat(500) });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(wasDisconnected()).toBe(true);
  });
});
