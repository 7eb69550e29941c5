/**
 * Moves durable events from the bridge to one SSE response, without gaps or duplicates:
 * - the SSE id of every event is its seq, so a reconnecting browser's Last-Event-ID (or
 *   `?since=`) is replayed from the conductor's log (`events.read`) before live delivery;
 * - when the consumer's queue overflowed (slow browser) or the bridge lagged, the browser is
 *   told (`lagged`) and the missing range is read from the log, page by page, as fast as the
 *   browser takes it;
 * - live events already sent during a replay are skipped by seq.
 */
import type { EventBridge } from './bridge.js';
import { nextBatch, sendHeartbeat, type Consumer, type DurableEnvelope } from './consumer.js';
import { ConductorNotRunning } from '../ipc/clientErrors.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';
import type { SseStream } from './sse.js';

const READ_PAGE = 500;

export interface PumpOptions {
  sse: SseStream;
  bridge: EventBridge;
  consumer: Consumer;
  /** Resume after this seq (exclusive); undefined = live only. */
  since: number | undefined;
  jobId?: string;
  types?: string[];
  heartbeatMs: number;
  /** Called after each group of events was sent; return true to end the stream. */
  afterEvents?: (events: DurableEnvelope[]) => Promise<boolean | void>;
  onSnapshot?: (snapshot: SystemSnapshot) => Promise<void> | void;
}

export async function pumpEvents(o: PumpOptions): Promise<void> {
  try {
    await pump(o);
  } finally {
    o.sse.end();
  }
}

async function pump(o: PumpOptions): Promise<void> {
  const { sse, bridge, consumer } = o;
  let lastSent = o.since ?? -1;
  /** A range still to be read from the log (the conductor was down when we tried). */
  let pendingFrom: number | undefined = o.since !== undefined ? o.since + 1 : undefined;

  const write = async (event: DurableEnvelope): Promise<boolean> => {
    if (event.seq <= lastSent) return true;
    lastSent = event.seq;
    if (!sse.send(event.type, event, event.seq)) return sse.drained();
    return !sse.closed;
  };

  /**
   * Reads (lastSent, head] from the log, one page in memory at a time; false if the stream is
   * over (the client went away, or afterEvents ended it).
   */
  const catchUp = async (): Promise<boolean> => {
    let cursor = Math.max(lastSent, (pendingFrom ?? 1) - 1, 0);
    try {
      for (;;) {
        const page = await bridge.call<{ events: DurableEnvelope[]; next_since: number; has_more: boolean }>('events.read', {
          since: cursor,
          limit: READ_PAGE,
          ...(o.jobId !== undefined ? { job_id: o.jobId } : {}),
          ...(o.types?.length ? { types: o.types } : {}),
        });
        const sent: DurableEnvelope[] = [];
        for (const e of page.events) {
          if (e.seq <= lastSent) continue;
          if (!(await write(e))) return false;
          sent.push(e);
        }
        if (sent.length > 0 && o.afterEvents && (await o.afterEvents(sent))) return false;
        cursor = page.next_since;
        if (!page.has_more) break;
      }
      pendingFrom = undefined;
    } catch (err) {
      if (!(err instanceof ConductorNotRunning)) throw err;
      pendingFrom = cursor + 1; // retried when the conductor is back
    }
    return !sse.closed;
  };

  if (pendingFrom !== undefined && bridge.connected && !(await catchUp())) return;

  while (!sse.closed) {
    const batch = await nextBatch(consumer, sse, o.heartbeatMs);
    if (batch === 'end') return;
    if (batch === 'idle') {
      if (!sendHeartbeat(sse, bridge.connected)) await sse.drained();
      if (pendingFrom !== undefined && bridge.connected && !(await catchUp())) return;
      continue;
    }
    const sent: DurableEnvelope[] = [];
    for (const e of batch.events) {
      if (e.seq <= lastSent) continue;
      if (!(await write(e))) return;
      sent.push(e);
    }
    if (sent.length > 0 && o.afterEvents && (await o.afterEvents(sent))) return;
    // The bridge started following after this stream began: read the rest from the log (a
    // live-only stream whose start is unknown has nothing to recover).
    if (batch.catchUp && lastSent >= 0) pendingFrom = Math.min(pendingFrom ?? Infinity, lastSent + 1);
    if (batch.gapFrom !== undefined) {
      sse.send('lagged', { resume_from: batch.gapFrom, reason: batch.gapReason, reading_from_log: true });
      pendingFrom = Math.min(pendingFrom ?? Infinity, batch.gapFrom);
    }
    if (pendingFrom !== undefined && bridge.connected && !(await catchUp())) return;
    if (batch.snapshot && o.onSnapshot) await o.onSnapshot(batch.snapshot);
  }
}
