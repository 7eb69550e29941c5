/**
 * DaemonClient: the library side of the protocol (protocol/PROTOCOL.md), modelled on
 * nats.js — calls are promises, subscriptions are async iterators, the connection comes
 * back by itself after the conductor restarts, and every subscription resumes from the
 * last seq it delivered, so a consumer sees each durable event once, without gaps.
 */
import net from 'node:net';
import { conductorPaths } from '../shared/paths.js';
import { ConductorNotRunning, ConnectionClosed, RpcError, TimeoutError } from './clientErrors.js';
import { SUBSCRIPTION_BUFFER, Subscription, streamItemOf, type StreamItem, type SubscribeOptions } from './clientSubscription.js';
import { SocketFrameWriter, socketFrameReader, type FrameWriter } from './frameIO.js';
import { decodeValue } from './framing.js';
import type { HelloResult, JobWithCost, MethodName, ParamsOf as TableParams, ResultOf as TableResult } from './methodTable.js';
import { MSG_NOTIFICATION, MSG_REQUEST, MSG_RESPONSE, PROTOCOL_VERSION, type RpcErrorBody } from './messages.js';

export { ConductorNotRunning, ConnectionClosed, RpcError, TimeoutError };
export { Subscription, type StreamItem, type SubscribeOptions };

export interface ReconnectOptions {
  /** Longest wait between attempts (backoff doubles from 50 ms up to this). */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

export interface ConnectOptions {
  socketPath?: string;
  /** Connect timeout and default call timeout. */
  timeoutMs?: number;
  reconnect?: boolean | ReconnectOptions;
  clientName?: string;
  onReconnect?: () => void;
  /** Called when an established connection drops (a reconnect follows unless disabled). */
  onDisconnect?: () => void;
}

/**
 * Typed params/results of every method, from the one method table (methodTable.ts) the
 * handlers use too; other method names are allowed, untyped.
 */
export type Methods = { [M in MethodName]: { params: TableParams<M>; result: TableResult<M> } };
export type { HelloResult, JobWithCost };

type ParamsOf<M extends string> = M extends MethodName ? TableParams<M> : Record<string, unknown> | undefined;
type ResultOf<M extends string> = M extends MethodName ? TableResult<M> : any;

interface PendingCall {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** Runs synchronously when the result arrives, before later frames of the same chunk. */
  onResult?: (result: unknown) => void;
}

/** Largest frame the client accepts from the conductor. */
const CLIENT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export class DaemonClient {
  server!: HelloResult;
  private socket: net.Socket | undefined;
  private writer: FrameWriter | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly byServerId = new Map<number, Subscription>();
  private closing = false;
  private reconnecting = false;
  private readingPaused = false;
  private connected: Promise<void>;
  private resolveClosed!: () => void;
  private readonly closedPromise = new Promise<void>((r) => (this.resolveClosed = r));
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions> | undefined;

  private constructor(private readonly options: ConnectOptions) {
    this.socketPath = options.socketPath ?? conductorPaths().socketPath;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const r = options.reconnect ?? true;
    this.reconnect = r === false ? undefined : { maxDelayMs: 5000, maxAttempts: Infinity, ...(r === true ? {} : r) };
    this.connected = Promise.resolve();
  }

  static async connect(options: ConnectOptions = {}): Promise<DaemonClient> {
    const client = new DaemonClient(options);
    try {
      await client.open();
    } catch (err) {
      // A listener that accepted but never said hello leaves an open socket: it would keep
      // the caller's process alive after the error.
      await client.close();
      throw err;
    }
    return client;
  }

  /** Resolves when the client has been closed (by close() or by giving up reconnecting). */
  closed(): Promise<void> {
    return this.closedPromise;
  }

  call<M extends string>(
    method: M,
    params?: ParamsOf<M>,
    opts: { timeoutMs?: number; onResult?: (result: ResultOf<M>) => void } = {},
  ): Promise<ResultOf<M>> {
    if (this.closing) return Promise.reject(new ConnectionClosed('the client is closed'));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const id = this.nextId++ >>> 0;
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
        onResult: opts.onResult as ((r: unknown) => void) | undefined,
      });
      void this.connected.then(
        () => {
          if (!this.pending.has(id)) return;
          if (!this.socket || this.socket.destroyed || !this.writer) {
            this.settle(id, new ConnectionClosed());
            return;
          }
          this.writer.write([MSG_REQUEST, id, method, params ?? {}]);
        },
        (err) => this.settle(id, err as Error),
      );
    });
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    const sub = new Subscription(this, options);
    this.subscriptions.add(sub);
    void this.startSubscription(sub, options.since);
    return sub;
  }

  async close(): Promise<void> {
    if (this.closing) return this.closedPromise;
    this.closing = true;
    for (const sub of this.subscriptions) sub.end();
    this.subscriptions.clear();
    for (const id of [...this.pending.keys()]) this.settle(id, new ConnectionClosed('the client is closed'));
    this.socket?.destroy();
    this.resolveClosed();
  }

  /** @internal */
  _pauseReading(): void {
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.socket?.pause();
    }
  }

  /** @internal */
  _maybeResumeReading(): void {
    if (!this.readingPaused) return;
    for (const sub of this.subscriptions) if (sub.buffered >= SUBSCRIPTION_BUFFER / 2) return;
    this.readingPaused = false;
    this.socket?.resume();
  }

  /** @internal */
  async _unsubscribe(sub: Subscription): Promise<void> {
    this.subscriptions.delete(sub);
    this._maybeResumeReading();
    // Once per subscription: `unsubscribe()` and then leaving its `for await` both come here.
    const serverId = sub.serverId;
    if (serverId !== undefined) {
      sub.serverId = undefined;
      this.byServerId.delete(serverId);
      await this.call('unsubscribe', { subscription: serverId }).catch(() => undefined);
    }
  }

  private async startSubscription(sub: Subscription, since: number | undefined): Promise<void> {
    const o = sub.options;
    const params: Record<string, unknown> = {};
    if (since !== undefined) params.since = since;
    for (const key of ['job_id', 'types', 'include_snapshots', 'on_overflow', 'max_queued_events', 'max_queued_bytes'] as const) {
      if (o[key] !== undefined) params[key] = o[key];
    }
    try {
      // The stream's first notifications can arrive in the same chunk as this response, so
      // the subscription is registered synchronously, not in a promise continuation.
      await this.call('daemon.monitor.stream', params, {
        onResult: (r) => {
          const res = r as { subscription: number; head_seq: number };
          if (sub.isEnded) {
            void this.call('unsubscribe', { subscription: res.subscription }).catch(() => undefined);
            return;
          }
          sub.serverId = res.subscription;
          sub.started(res.head_seq);
          this.byServerId.set(res.subscription, sub);
        },
      });
    } catch (err) {
      // A dropped connection is retried by the reconnect logic; anything else ends the stream.
      if (!(err instanceof ConnectionClosed) || !this.reconnect) {
        this.subscriptions.delete(sub);
        sub.end();
      }
    }
  }

  private open(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const attempt = this.connectRetryingBacklog(deadline);
    this.connected = attempt;
    attempt.catch(() => undefined);
    return attempt.then(async () => {
      try {
        this.server = (await this.call('hello', {
          protocol_version: PROTOCOL_VERSION,
          ...(this.options.clientName ? { client: this.options.clientName } : {}),
        })) as HelloResult;
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
        throw new TimeoutError(`${err.message}: something accepted the connection on ${this.socketPath} but does not answer`);
      }
    });
  }

  /** EAGAIN means the conductor's accept backlog is momentarily full: try again shortly. */
  private async connectRetryingBacklog(deadline: number): Promise<void> {
    for (;;) {
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        const code = ((err as ConductorNotRunning).reason as NodeJS.ErrnoException | undefined)?.code;
        if (code !== 'EAGAIN' || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
      }
    }
  }

  private connectOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = net.createConnection({ path: this.socketPath });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConductorNotRunning(this.socketPath, new TimeoutError(`connect timed out after ${this.timeoutMs} ms`)));
      }, this.timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new ConductorNotRunning(this.socketPath, err));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        this.attach(socket);
        resolve();
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.writer = new SocketFrameWriter(socket);
    this.readingPaused = false;
    // Undecodable data: the stream may be out of sync; drop this connection.
    socketFrameReader(socket, CLIENT_MAX_FRAME_BYTES).listen(
      (frame) => {
        if (socket.destroyed) return; // the rest of a chunk after a bad frame
        try {
          this.dispatch(decodeValue(frame));
        } catch {
          socket.destroy();
        }
      },
      () => socket.destroy(),
    );
    socket.on('error', () => undefined);
    socket.on('close', () => this.onDisconnect(socket));
  }

  private dispatch(message: unknown): void {
    if (!Array.isArray(message)) return;
    if (message[0] === MSG_RESPONSE) {
      const error = message[2] as RpcErrorBody | null;
      this.settle(
        message[1] as number,
        error ? new RpcError(error.code ?? -32603, error.message ?? 'unknown error', error.data) : undefined,
        message[3],
      );
      return;
    }
    if (message[0] !== MSG_NOTIFICATION) return;
    const method = message[1] as string;
    const params = (message[2] ?? {}) as Record<string, any>;
    const sub = typeof params.subscription === 'number' ? this.byServerId.get(params.subscription) : undefined;
    if (!sub) return;
    if (method !== 'stream.closed') {
      const item = streamItemOf(method, params);
      if (item) sub.push(item);
      return;
    }
    // "shutdown" and "overflow" end the connection too; with reconnect the stream resumes.
    // "error" (the log could not be read) leaves the connection up: subscribe again.
    this.byServerId.delete(params.subscription);
    sub.serverId = undefined;
    if (!this.reconnect) {
      this.subscriptions.delete(sub);
      sub.end();
    } else if (params.reason === 'error') {
      setTimeout(() => {
        if (!sub.isEnded && !this.closing && sub.serverId === undefined) void this.startSubscription(sub, sub.resumeSince());
      }, 500).unref();
    }
  }

  private settle(id: number, error: Error | undefined, result?: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (error) {
      call.reject(error);
      return;
    }
    call.onResult?.(result);
    call.resolve(result);
  }

  private onDisconnect(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.byServerId.clear();
    for (const sub of this.subscriptions) sub.serverId = undefined;
    // Calls in flight are not retried: job.submit and job.cancel are not idempotent.
    for (const id of [...this.pending.keys()]) this.settle(id, new ConnectionClosed());
    // One reconnect loop at a time: a failed attempt's socket closing must not start another.
    if (this.closing || this.reconnecting) return;
    this.options.onDisconnect?.();
    if (!this.reconnect) {
      for (const sub of this.subscriptions) sub.end();
      this.subscriptions.clear();
      this.closing = true;
      this.resolveClosed();
      return;
    }
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const { maxDelayMs, maxAttempts } = this.reconnect!;
    this.reconnecting = true;
    let delay = 50;
    let resolveConnected!: () => void;
    // Calls made while reconnecting wait for the new connection (up to their timeout).
    this.connected = new Promise<void>((r) => (resolveConnected = r));
    for (let attempt = 1; attempt <= maxAttempts && !this.closing; attempt++) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, maxDelayMs);
      try {
        await this.open();
        this.reconnecting = false;
        resolveConnected();
        for (const sub of this.subscriptions) void this.startSubscription(sub, sub.resumeSince());
        this.options.onReconnect?.();
        return;
      } catch {
        this.socket?.destroy();
        this.socket = undefined;
      }
    }
    this.reconnecting = false;
    await this.close();
  }
}
