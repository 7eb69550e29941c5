/**
 * The event bridge: ONE subscription to the conductor's stream (snapshots included), fanned
 * out to the dashboard's consumers — one per open SSE response. It follows the stream only
 * while some page wants it (and LINGER_MS after the last one left, for a reload): with no page
 * open, decoding every event the conductor just encoded cost it ~60% more CPU per event
 * (BENCHMARKS.md). A subscription starts at the conductor's head; each consumer then reads
 * what came before it from the log (`catchUp`), so no consumer misses an event either way.
 *
 * Every consumer has a bounded queue (consumer.ts, which says why it is not the client's
 * QueuedIterator). A consumer that falls behind (a slow browser) does not
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
import type { SystemSnapshot } from '../monitor/snapshot.js';
import { Consumer, type ConsumerFilter, type DurableEnvelope } from './consumer.js';
import { RateMeter } from './rateMeter.js';

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
