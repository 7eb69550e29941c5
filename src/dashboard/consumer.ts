/**
 * One dashboard consumer (an open SSE response) of the bridge's stream: a bounded queue that
 * hands its route everything pending as one batch (events, the gap to re-read from the log,
 * the latest snapshot, connection changes), or says after a timeout that nothing came, so the
 * route sends a heartbeat.
 *
 * Why not ipc/queuedIterator.ts: that queue yields one item at a time and never drops, asking
 * its producer to pause instead. A consumer must not pause the bridge (other pages share it);
 * past its bound it drops events and keeps only where the gap starts, it keeps just the latest
 * snapshot, and its route writes one SSE chunk per batch. None of that fits an item iterator.
 */
import { matchesFilter, type EventEnvelope } from '../events/types.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';
import type { SseStream } from './sse.js';

export interface DurableEnvelope extends EventEnvelope {
  seq: number;
}

export interface ConsumerFilter {
  /** Only this job's events (events without a job_id are skipped). */
  jobId?: string;
  /** Only events whose type starts with one of these (empty or absent: all). */
  types?: string[];
  /** Receive durable events (false: snapshots and status only). */
  events: boolean;
  snapshots: boolean;
}

/** What a consumer's route should do next; everything pending, taken at once. */
export interface ConsumerBatch {
  events: DurableEnvelope[];
  /** First seq that did not fit in the queue: read from the log from here. */
  gapFrom: number | undefined;
  /** Why there is a gap: this consumer was slow, or the bridge itself lagged. */
  gapReason: 'slow_consumer' | 'bridge_lagged' | undefined;
  snapshot: SystemSnapshot | undefined;
  /** The bridge (re)started its subscription: read what came before it from the log. */
  catchUp: boolean;
  /** Set when the conductor connection went up or down since the last batch. */
  connected: boolean | undefined;
  stopped: boolean;
}

export class Consumer {
  private queue: DurableEnvelope[] = [];
  private gapFrom: number | undefined;
  private gapReason: ConsumerBatch['gapReason'];
  private snapshot: SystemSnapshot | undefined;
  private catchUp = false;
  private connected: boolean | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly filter: ConsumerFilter,
    readonly queueLimit: number,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** @internal */
  pushEvent(event: DurableEnvelope): void {
    if (!this.filter.events) return;
    if (!matchesFilter(event, { job_id: this.filter.jobId, types: this.filter.types })) return;
    if (this.gapFrom !== undefined) return; // re-read from the log with the rest of the gap
    if (this.queue.length >= this.queueLimit) {
      this.gapFrom = event.seq;
      this.gapReason = 'slow_consumer';
    } else {
      this.queue.push(event);
    }
    this.notify();
  }

  /** @internal */
  markGap(fromSeq: number, reason: NonNullable<ConsumerBatch['gapReason']>): void {
    if (!this.filter.events) return;
    if (this.gapFrom === undefined || fromSeq < this.gapFrom) {
      this.gapFrom = fromSeq;
      this.gapReason = reason;
    }
    this.notify();
  }

  /** @internal The bridge's subscription (re)started at the head: earlier events come from the log. */
  markCatchUp(): void {
    if (!this.filter.events) return;
    this.catchUp = true;
    this.notify();
  }

  /** @internal */
  pushSnapshot(snapshot: SystemSnapshot): void {
    if (!this.filter.snapshots) return;
    this.snapshot = snapshot;
    this.notify();
  }

  /** @internal */
  setConnected(connected: boolean): void {
    this.connected = connected;
    this.notify();
  }

  /** @internal */
  stop(): void {
    this.stopped = true;
    this.notify();
  }

  private hasPending(): boolean {
    return (
      this.stopped ||
      this.queue.length > 0 ||
      this.gapFrom !== undefined ||
      this.snapshot !== undefined ||
      this.connected !== undefined ||
      this.catchUp
    );
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves when something is pending, or after `timeoutMs` (the caller then sends a heartbeat). */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.hasPending()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  take(): ConsumerBatch {
    const batch: ConsumerBatch = {
      events: this.queue,
      gapFrom: this.gapFrom,
      gapReason: this.gapReason,
      snapshot: this.snapshot,
      catchUp: this.catchUp,
      connected: this.connected,
      stopped: this.stopped,
    };
    this.catchUp = false;
    this.queue = [];
    this.gapFrom = undefined;
    this.gapReason = undefined;
    this.snapshot = undefined;
    this.connected = undefined;
    return batch;
  }
}

/**
 * Wait for the consumer's next batch and do what every SSE route does with one: tell the page
 * when the conductor connection changed, and end with `bridge_stopped` when the bridge stops.
 * 'idle': nothing came within `timeoutMs`; 'end': the stream is over.
 */
export async function nextBatch(consumer: Consumer, sse: SseStream, timeoutMs: number): Promise<ConsumerBatch | 'idle' | 'end'> {
  const woke = await consumer.wait(timeoutMs);
  if (sse.closed) return 'end';
  if (!woke) return 'idle';
  const batch = consumer.take();
  if (batch.stopped) {
    sse.send('bridge_stopped', { reason: 'the dashboard is stopping' });
    return 'end';
  }
  if (batch.connected !== undefined) sse.send('conductor', { connected: batch.connected });
  return batch;
}

/** The idle message; false when the socket buffer is full (then wait for `sse.drained()`). */
export function sendHeartbeat(sse: SseStream, connected: boolean): boolean {
  return sse.send('heartbeat', { ts: Date.now() / 1000, connected });
}
