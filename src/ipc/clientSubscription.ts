/**
 * The client side of one `daemon.monitor.stream`: an async iterator of stream items that
 * outlives reconnects. It remembers the highest seq it received, so the client resumes the
 * stream from there and drops what it already saw; a full buffer pauses the client's socket.
 */
import type { EventEnvelope } from '../events/types.js';
import type { ParamsOf } from './methodTable.js';
import { QueuedIterator } from './queuedIterator.js';

/** The params of daemon.monitor.stream, as the method table types them. */
export type SubscribeOptions = ParamsOf<'daemon.monitor.stream'>;

export type StreamItem =
  | { kind: 'event'; event: EventEnvelope }
  | { kind: 'caught_up'; seq: number }
  | { kind: 'lagged'; lost: number; resume_from: number; head_seq: number };

/** The item a stream notification carries for the consumer (stream.closed carries none). */
export function streamItemOf(method: string, params: Record<string, any>): StreamItem | undefined {
  switch (method) {
    case 'stream.event':
      return { kind: 'event', event: params.event as EventEnvelope };
    case 'stream.caught_up':
      return { kind: 'caught_up', seq: params.seq };
    case 'stream.lagged':
      return { kind: 'lagged', lost: params.lost, resume_from: params.resume_from, head_seq: params.head_seq };
    default:
      return undefined;
  }
}

/** What a subscription asks of the client that owns it. */
export interface SubscriptionHost {
  _pauseReading(): void;
  _maybeResumeReading(): void;
  _unsubscribe(sub: Subscription): Promise<void>;
}

/** Items buffered per subscription before the client stops reading the socket. */
export const SUBSCRIPTION_BUFFER = 10_000;

export class Subscription implements AsyncIterable<StreamItem> {
  /** Last durable seq delivered to the consumer. */
  lastSeq: number | undefined;
  /** Highest durable seq received (delivered or still buffered): resume and dedup point. */
  private lastReceived: number | undefined;
  /** Server-side id on the current connection. */
  serverId: number | undefined;
  private startHead: number | undefined;
  // Past SUBSCRIPTION_BUFFER items the client stops reading the socket (the conductor then
  // holds, or lags, this subscription under its own bounds) until half of them were taken.
  private readonly queue: QueuedIterator<StreamItem>;

  constructor(
    private readonly client: SubscriptionHost,
    readonly options: SubscribeOptions,
  ) {
    this.queue = new QueuedIterator<StreamItem>({
      highWater: SUBSCRIPTION_BUFFER,
      onFull: () => client._pauseReading(),
      onTake: (item) => {
        if (item.kind === 'event' && item.event.seq !== undefined) this.lastSeq = item.event.seq;
        // Reading resumes once every subscription of the client has room (another may still be full).
        if (this.queue.length < SUBSCRIPTION_BUFFER / 2) client._maybeResumeReading();
      },
      onReturn: () => client._unsubscribe(this),
    });
  }

  get buffered(): number {
    return this.queue.length;
  }

  get isEnded(): boolean {
    return this.queue.isEnded;
  }

  /** Resolves once the subscription ended and everything it received was taken. */
  get closed(): Promise<void> {
    return this.queue.closed;
  }

  /** Where to resume after a reconnect. */
  resumeSince(): number | undefined {
    return this.lastReceived ?? this.options.since ?? this.startHead;
  }

  /** @internal */
  started(headSeq: number): void {
    if (this.startHead === undefined) this.startHead = headSeq;
  }

  /** @internal */
  push(item: StreamItem): void {
    if (this.queue.isEnded) return;
    if (item.kind === 'event' && item.event.seq !== undefined) {
      if (this.lastReceived !== undefined && item.event.seq <= this.lastReceived) return; // seen already
      this.lastReceived = item.event.seq;
    }
    this.queue.push(item);
  }

  /** @internal */
  end(): void {
    this.queue.end();
  }

  async unsubscribe(): Promise<void> {
    if (this.queue.isEnded) return;
    this.queue.end();
    await this.client._unsubscribe(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    return this.queue[Symbol.asyncIterator]();
  }
}
