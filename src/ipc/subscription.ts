/**
 * One `daemon.monitor.stream` subscription on one connection.
 *
 * Replay then live, with no gap and no duplicate: while replaying, live events are ignored
 * and the log is read in pages from `cursor`; the switch to live happens in the same
 * synchronous step that observes `cursor === log.headSeq`. Because the store publishes
 * every committed event synchronously right after the commit that advances headSeq,
 * every event after `cursor` is then guaranteed to arrive live.
 *
 * Bounded: the subscription counts the events and bytes it has in the connection's queue
 * (plus the socket's own buffer). Over the bound it either drops events and later sends one
 * `stream.lagged` with the count and the seq to resume from, or closes the connection.
 */
import { notificationPrefix } from './framing.js';
import { MSG_NOTIFICATION } from './messages.js';
import type { Outbound, QueueOwner } from './outbound.js';
import { matchesFilter, type EventEnvelope, type EventFilter } from '../events/types.js';

export type OverflowPolicy = 'lag' | 'disconnect';

export interface RawLogRow {
  seq: number;
  bytes: Buffer;
}

/** What a subscription needs from the event store. */
export interface ReplayableLog {
  readonly headSeq: number;
  readRaw(afterSeq: number, limit: number, filter: EventFilter): RawLogRow[];
  /**
   * Optional, faster: a page of events already framed behind `prefix` (EventStore builds it
   * inside SQLite). Without it, or when it throws, replay uses readRaw.
   */
  readFramed?(afterSeq: number, limit: number, filter: EventFilter, prefix: Buffer): { count: number; lastSeq: number; frames: Buffer };
}

export interface SubscriptionOptions {
  id: number;
  filter: EventFilter;
  includeSnapshots: boolean;
  policy: OverflowPolicy;
  maxQueuedEvents: number;
  maxQueuedBytes: number;
  /** Replay from after this seq; undefined = live only. */
  since: number | undefined;
}

const REPLAY_PAGE = 1000;
/** Rows replayed per tick at most, so one replay cannot hold the event loop. */
const REPLAY_ROWS_PER_TICK = 5000;

export class ServerSubscription implements QueueOwner {
  queuedEvents = 0;
  queuedBytes = 0;
  state: 'replaying' | 'live' | 'closed';
  /** Last durable seq handed to the queue (or reached by replay). */
  cursor: number;
  private lag: { lost: number; resumeFrom: number } | null = null;
  private replayScheduled = false;
  private framedReads = true;
  private readonly eventPrefix: Buffer;
  readonly id: number;

  constructor(
    readonly options: SubscriptionOptions,
    private readonly log: ReplayableLog,
    private readonly out: Outbound,
    private readonly socketBufferedBytes: () => number,
    private readonly onDisconnectPolicy: (sub: ServerSubscription) => void,
  ) {
    this.id = options.id;
    // Stored event bytes are sent as they are, after this prefix.
    this.eventPrefix = notificationPrefix('stream.event', { subscription: options.id }, 'event');
    if (options.since === undefined) {
      this.state = 'live';
      this.cursor = log.headSeq;
    } else {
      this.state = 'replaying';
      this.cursor = Math.min(options.since, log.headSeq);
    }
  }

  /** Called once the subscribe response has been queued. */
  start(): void {
    if (this.state === 'live') this.notify('stream.caught_up', { seq: this.cursor });
    else this.scheduleReplay();
  }

  /** A live event from the bus (durable or ephemeral). */
  deliver(event: EventEnvelope, bytes: Buffer): void {
    if (this.state !== 'live') return;
    const durable = event.seq !== undefined;
    if (durable) {
      if (event.seq! <= this.cursor) return; // never a duplicate
      if (!matchesFilter(event, this.options.filter)) return;
    } else if (!this.options.includeSnapshots) {
      return;
    }
    if (this.lag) {
      if (durable) {
        this.lag.lost += 1;
        this.cursor = event.seq!;
      }
      return;
    }
    if (this.isOverBound()) {
      if (this.options.policy === 'disconnect') {
        this.onDisconnectPolicy(this);
        return;
      }
      if (durable) {
        this.lag = { lost: 1, resumeFrom: this.cursor + 1 };
        this.cursor = event.seq!;
      } else {
        this.lag = { lost: 0, resumeFrom: this.cursor + 1 };
      }
      return;
    }
    this.out.push(bytes, this.eventPrefix, this);
    if (durable) this.cursor = event.seq!;
  }

  /** The connection wrote some of its queue: maybe leave the lagging state, maybe replay on. */
  onFlushed(): void {
    if (this.state === 'closed') return;
    if (this.lag && this.hasRoom()) {
      const { lost, resumeFrom } = this.lag;
      this.lag = null;
      this.notify('stream.lagged', { lost, resume_from: resumeFrom, head_seq: this.log.headSeq });
    }
    if (this.state === 'replaying') this.scheduleReplay();
  }

  close(): void {
    this.state = 'closed';
  }

  notify(method: string, fields: Record<string, unknown>): void {
    this.out.write([MSG_NOTIFICATION, method, { subscription: this.id, ...fields }]);
  }

  private isOverBound(): boolean {
    return (
      this.queuedEvents >= this.options.maxQueuedEvents ||
      this.queuedBytes + this.socketBufferedBytes() >= this.options.maxQueuedBytes
    );
  }

  /** Half the bound free: room to replay a page, or to leave the lagging state. */
  private hasRoom(): boolean {
    return (
      this.queuedEvents <= this.options.maxQueuedEvents / 2 &&
      this.queuedBytes + this.socketBufferedBytes() <= this.options.maxQueuedBytes / 2
    );
  }

  private scheduleReplay(): void {
    if (this.replayScheduled || this.state !== 'replaying') return;
    this.replayScheduled = true;
    setImmediate(() => {
      this.replayScheduled = false;
      try {
        this.replayStep();
      } catch (err) {
        // The log could not be read (I/O error): end this subscription, not the conductor.
        this.state = 'closed';
        this.notify('stream.closed', { reason: 'error', error: (err as Error).message });
      }
    });
  }

  /** Queue the next page of the replay; how many events it held and the last one's seq. */
  private readPage(): { count: number; lastSeq: number } {
    if (this.log.readFramed && this.framedReads) {
      let page: { count: number; lastSeq: number; frames: Buffer } | undefined;
      try {
        page = this.log.readFramed(this.cursor, REPLAY_PAGE, this.options.filter, this.eventPrefix);
      } catch {
        // e.g. a page too big for one SQLite blob: this subscription reads rows from now on
        // (a log that cannot be read at all fails readRaw too, and ends the replay).
        this.framedReads = false;
      }
      if (page) {
        this.out.pushFrames(page.frames, page.count, this);
        return page;
      }
    }
    const rows = this.log.readRaw(this.cursor, REPLAY_PAGE, this.options.filter);
    for (const row of rows) this.out.push(row.bytes, this.eventPrefix, this);
    return { count: rows.length, lastSeq: rows.length > 0 ? rows[rows.length - 1]!.seq : this.cursor };
  }

  private replayStep(): void {
    let rowsThisTick = 0;
    while (this.state === 'replaying') {
      if (!this.hasRoom()) return; // onFlushed resumes us
      if (rowsThisTick >= REPLAY_ROWS_PER_TICK) {
        this.scheduleReplay();
        return;
      }
      const page = this.readPage();
      rowsThisTick += page.count;
      if (page.count < REPLAY_PAGE) {
        // Everything up to the head has been read in this same synchronous step: go live.
        this.cursor = this.log.headSeq;
        this.state = 'live';
        this.notify('stream.caught_up', { seq: this.cursor });
        return;
      }
      this.cursor = page.lastSeq;
    }
  }
}
