/**
 * The event bridge: ONE subscription to the conductor's stream (snapshots included), fanned
 * out to the dashboard's consumers — one per open SSE response. It follows the stream only
 * while some page wants it (and LINGER_MS after the last one left, for a reload): with no page
 * open, decoding every event the conductor just encoded cost it ~60% more CPU per event
 * (BENCHMARKS.md). A subscription starts at the conductor's head; each consumer then reads
 * what came before it from the log (`catchUp`), so no consumer misses an event either way.
 *
 * Every consumer has a bounded queue. A consumer that falls behind (a slow browser) does not
 * grow the server: once its queue is full it keeps only the seq of the first event it missed
 * (`gapFrom`), and its route re-reads from that seq out of the conductor's log
 * (`events.read`) when it has room again. Snapshots are ephemeral: a consumer holds at most the
 * latest one. If the bridge itself is told it lagged by the conductor, every consumer gets the
 * same gap. So no consumer misses a durable event while the log still holds it.
 *
 * The bridge connects by itself (retrying while the conductor is down) and its DaemonClient
 * resumes from the last seq received after a conductor restart.
 */
import { DaemonClient, RpcError } from '../ipc/client.js';
import { ConductorNotRunning } from '../ipc/clientErrors.js';
import { matchesFilter, type EventEnvelope } from '../events/types.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';

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

export interface BridgeOptions {
  socketPath: string;
  /** How long to keep following after the last consumer left (default LINGER_MS). */
  lingerMs?: number;
  /** Events a consumer may hold before it is switched to reading from the log. */
  queueLimit?: number;
  /** Most consumers at once (each is an open SSE response). */
  maxConsumers?: number;
  /** Bytes the conductor may hold for the bridge before it reports a lag (32 MiB). */
  maxQueuedBytes?: number;
  log?: (line: string) => void;
}

export class TooManyConsumers extends Error {
  constructor(readonly limit: number) {
    super(`too many live streams open (limit ${limit}); close a dashboard tab or try again later`);
    this.name = 'TooManyConsumers';
  }
}

/** A page reload within this keeps the subscription. */
export const LINGER_MS = 10_000;

/** Durable events received per second over the last 10 seconds. */
class RateMeter {
  private readonly buckets = new Array<number>(10).fill(0);
  private second = Math.floor(Date.now() / 1000);

  add(n: number): void {
    this.roll();
    this.buckets[this.second % 10]! += n;
  }

  perSecond(): number {
    this.roll();
    // The current second is incomplete: average the 9 complete ones.
    let sum = 0;
    for (let i = 1; i < 10; i++) sum += this.buckets[(this.second - i + 10) % 10]!;
    return sum / 9;
  }

  private roll(): void {
    const now = Math.floor(Date.now() / 1000);
    for (let s = Math.max(this.second + 1, now - 9); s <= now; s++) this.buckets[s % 10] = 0;
    this.second = Math.max(this.second, now);
  }
}

export class EventBridge {
  private client: DaemonClient | undefined;
  private running = false;
  private connectedNow = false;
  private readonly consumers = new Set<Consumer>();
  private loop: Promise<void> | undefined;
  private wakeRetry: (() => void) | undefined;
  private wakeIdle: (() => void) | undefined;
  private readonly rate = new RateMeter();
  readonly queueLimit: number;
  readonly maxConsumers: number;
  /** Highest durable seq the bridge has received while following (undefined while idle). */
  lastSeq: number | undefined;
  latestSnapshot: SystemSnapshot | undefined;
  latestSnapshotAt = 0;

  constructor(private readonly options: BridgeOptions) {
    this.queueLimit = options.queueLimit ?? 1000;
    this.maxConsumers = options.maxConsumers ?? 64;
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Whether its subscription is live now (some page wants it, or one left lately). */
  get following(): boolean {
    return this.followingNow;
  }
  private followingNow = false;

  /** The longest consumer queue right now (bounded by queueLimit). */
  maxQueued(): number {
    let max = 0;
    for (const c of this.consumers) max = Math.max(max, c.queued);
    return max;
  }

  eventsPerSecond(): number {
    return this.rate.perSecond();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Ends every consumer's stream with `bridge_stopped` and closes the connection. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeRetry?.();
    this.wakeIdle?.();
    for (const c of this.consumers) c.stop();
    this.consumers.clear();
    await this.client?.close();
    await this.loop;
  }

  register(filter: ConsumerFilter): Consumer {
    if (this.consumers.size >= this.maxConsumers) throw new TooManyConsumers(this.maxConsumers);
    const consumer = new Consumer(filter, this.queueLimit);
    if (!this.running) consumer.stop();
    else this.consumers.add(consumer);
    this.wakeIdle?.();
    return consumer;
  }

  /** The stream is over: stop feeding the consumer and wake whoever waits on it. */
  unregister(consumer: Consumer): void {
    this.consumers.delete(consumer);
    consumer.stop();
  }

  /** A call to the conductor; ConductorNotRunning while it is down. */
  async call<T = any>(method: string, params: Record<string, unknown> = {}, timeoutMs = 5000): Promise<T> {
    const client = this.client;
    if (!client || !this.connectedNow) throw new ConductorNotRunning(this.options.socketPath);
    try {
      return (await client.call(method, params, { timeoutMs })) as T;
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new ConductorNotRunning(this.options.socketPath);
    }
  }

  private setConnected(connected: boolean): void {
    if (this.connectedNow === connected) return;
    this.connectedNow = connected;
    this.options.log?.(connected ? 'bridge: connected to the conductor' : 'bridge: conductor connection lost; reconnecting');
    for (const c of this.consumers) c.setConnected(connected);
  }

  private async run(): Promise<void> {
    let delay = 100;
    while (this.running) {
      try {
        this.client = await DaemonClient.connect({
          socketPath: this.options.socketPath,
          timeoutMs: 5000,
          clientName: 'mzt-dashboard',
          reconnect: { maxDelayMs: 2000 },
          onDisconnect: () => this.setConnected(false),
          onReconnect: () => this.setConnected(true),
        });
        break;
      } catch {
        await this.pause(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
    const client = this.client;
    if (!this.running || !client) {
      await client?.close();
      return;
    }
    this.setConnected(true);
    // Reconnects keep the subscription; one that ends anyway (a failed subscribe call) is made
    // again, and the consumers read what they missed from the log.
    while (this.running) {
      if (this.consumers.size === 0) {
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        this.wakeIdle = undefined;
        continue;
      }
      const ended = await this.follow(client);
      if (!this.running || ended === 'idle') continue;
      this.options.log?.('bridge: the subscription ended; subscribing again');
      await this.pause(1000);
    }
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One subscription, fanned out to the consumers until it ends or no page wanted it for lingerMs. */
  private async follow(client: DaemonClient): Promise<'idle' | 'ended'> {
    const sub = client.subscribe({
      include_snapshots: true,
      on_overflow: 'lag',
      // Room for bursts (the conductor holds this for us); past it, consumers read the log.
      max_queued_events: 50_000,
      max_queued_bytes: this.options.maxQueuedBytes ?? 32 * 1024 * 1024,
    });
    let idleSince: number | undefined;
    let idle = false;
    const lingerMs = this.options.lingerMs ?? LINGER_MS;
    const idleCheck = setInterval(() => {
      if (this.consumers.size > 0) return void (idleSince = undefined);
      idleSince ??= Date.now();
      if (Date.now() - idleSince < lingerMs) return;
      idle = true;
      void sub.unsubscribe().catch(() => undefined);
    }, Math.min(1000, lingerMs));
    let started = false;
    try {
      for await (const item of sub) {
        if (item.kind === 'caught_up') {
          // Live from the head now: what each consumer has not seen before it is in the log.
          if (!started) for (const c of this.consumers) c.markCatchUp();
          started = true;
          this.followingNow = true;
        } else if (item.kind === 'event') {
          const event = item.event;
          if (event.seq === undefined) {
            if (event.type === 'monitor.snapshot') {
              this.latestSnapshot = event.data as unknown as SystemSnapshot;
              this.latestSnapshotAt = Date.now();
              for (const c of this.consumers) c.pushSnapshot(this.latestSnapshot);
            }
            continue;
          }
          this.lastSeq = event.seq;
          this.rate.add(1);
          for (const c of this.consumers) c.pushEvent(event as DurableEnvelope);
        } else if (item.kind === 'lagged') {
          if (item.lost > 0) {
            // The lost range is in the log: every consumer reads it from there.
            for (const c of this.consumers) c.markGap(item.resume_from, 'bridge_lagged');
            this.lastSeq = Math.max(this.lastSeq ?? 0, item.resume_from + item.lost - 1);
          }
        }
      }
    } finally {
      clearInterval(idleCheck);
      this.followingNow = false;
      this.lastSeq = undefined;
    }
    return idle ? 'idle' : 'ended';
  }
}
