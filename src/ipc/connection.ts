/**
 * One client connection, built from a frame reader and a frame writer (frameIO.ts): decodes
 * the requests the reader hands over, runs each independently (a slow call or an open
 * subscription never blocks the next request), and sends everything back through the one
 * writer, the connection's Outbound queue.
 */
import type { Socket } from 'node:net';
import { ChunkFrameReader } from './frameIO.js';
import { decodeValue } from './framing.js';
import { ErrorCode, MSG_NOTIFICATION, MSG_REQUEST, MSG_RESPONSE, ProtocolError, type RpcErrorBody } from './messages.js';
import { Outbound, type OutboundLimits } from './outbound.js';
import { ServerSubscription, type ReplayableLog, type SubscriptionOptions } from './subscription.js';
import type { EventEnvelope } from '../events/types.js';

export interface RequestContext {
  connection: Connection;
  /** Run `fn` right after the response has been queued (e.g. to start a stream). */
  afterResponse(fn: () => void): void;
}

export type Dispatch = (method: string, params: unknown, ctx: RequestContext) => unknown;

export interface ConnectionLimits {
  maxFrameBytes: number;
  maxInflightRequests: number;
  maxSubscriptions: number;
  outbound: OutboundLimits;
}

export class Connection {
  readonly id: number;
  /** Fed by the server with the socket's bytes (node-ipc delivers them). */
  readonly reader: ChunkFrameReader;
  readonly out: Outbound;
  private inflight = 0;
  readonly subscriptions = new Map<number, ServerSubscription>();
  /** The map's values as an array, for the per-event loop (a Map iterator per event is garbage). */
  private live: ServerSubscription[] = [];
  private closed = false;

  constructor(
    id: number,
    readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly dispatch: Dispatch,
    private readonly log: ReplayableLog,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.id = id;
    this.reader = new ChunkFrameReader(limits.maxFrameBytes);
    this.reader.listen(
      (frame) => this.handleFrame(frame),
      (err) => this.closeWithError(ErrorCode.FRAME_ERROR, err.message),
    );
    this.out = new Outbound(socket, limits.outbound, () => this.destroy());
    this.out.onFlushed = () => {
      for (const sub of this.subscriptions.values()) sub.onFlushed();
    };
    socket.on('close', () => this.teardown());
    socket.on('error', () => this.teardown());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Raw bytes from the socket. */
  receive(chunk: Buffer): void {
    if (!this.closed) this.reader.receive(chunk);
  }

  /** Live event from the bus. */
  deliver(event: EventEnvelope, bytes: Buffer): void {
    const live = this.live;
    for (let i = 0; i < live.length; i++) live[i]!.deliver(event, bytes);
  }

  notify(method: string, params: unknown): void {
    this.out.write([MSG_NOTIFICATION, method, params]);
  }

  addSubscription(options: Omit<SubscriptionOptions, 'id'>, id: number): ServerSubscription {
    if (this.subscriptions.size >= this.limits.maxSubscriptions) {
      throw new ProtocolError(
        ErrorCode.LIMIT_EXCEEDED,
        `too many subscriptions on this connection (limit ${this.limits.maxSubscriptions})`,
        { limit: this.limits.maxSubscriptions },
      );
    }
    const sub = new ServerSubscription(
      { ...options, id },
      this.log,
      this.out,
      () => this.out.socketBufferedBytes,
      (s) => this.overflowDisconnect(s),
    );
    this.subscriptions.set(id, sub);
    this.live = [...this.subscriptions.values()];
    return sub;
  }

  removeSubscription(id: number): boolean {
    const sub = this.subscriptions.get(id);
    if (!sub) return false;
    sub.close();
    this.subscriptions.delete(id);
    this.live = [...this.subscriptions.values()];
    return true;
  }

  /** Queue-less end: tell the peer why, then close (framing violations, overflow policy, shutdown). */
  closeWithError(code: number, message: string): void {
    if (this.closed) return;
    this.endWith([MSG_NOTIFICATION, 'server.error', { code, message }]);
  }

  /** Graceful end after everything queued so far has been written (shutdown). */
  endGracefully(finalNotification?: { method: string; params: unknown }): void {
    if (this.closed) return;
    if (finalNotification) this.notify(finalNotification.method, finalNotification.params);
    this.closed = true;
    this.out.endWhenWritten();
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  /** Drop what is still queued, send `last`, end. */
  private endWith(last: unknown): void {
    this.closed = true;
    for (const sub of this.subscriptions.values()) sub.close();
    this.out.abort(last);
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.closed = true;
    for (const sub of this.subscriptions.values()) sub.close();
    this.subscriptions.clear();
    this.live = [];
    this.out.close();
    this.onClose(this);
  }
  private tornDown = false;

  private overflowDisconnect(sub: ServerSubscription): void {
    this.endWith([MSG_NOTIFICATION, 'stream.closed', { subscription: sub.id, reason: 'overflow' }]);
  }

  private handleFrame(frame: Buffer): void {
    let message: unknown;
    try {
      message = decodeValue(frame);
    } catch (err) {
      this.notify('server.error', {
        code: ErrorCode.PARSE_ERROR,
        message: `malformed MessagePack: ${(err as Error).message}`,
      });
      return;
    }
    if (!Array.isArray(message) || message.length === 0) {
      this.notify('server.error', {
        code: ErrorCode.INVALID_REQUEST,
        message: 'invalid message: expected an array [0, id, method, params] or [2, method, params]',
      });
      return;
    }
    const type = message[0];
    if (type === MSG_NOTIFICATION) return; // client notifications carry nothing the server acts on
    if (type !== MSG_REQUEST) {
      this.notify('server.error', {
        code: ErrorCode.INVALID_REQUEST,
        message: `invalid message type ${JSON.stringify(type)}: expected 0 (request) or 2 (notification)`,
      });
      return;
    }
    const id = message[1];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      this.notify('server.error', {
        code: ErrorCode.INVALID_REQUEST,
        message: 'invalid request: the id (element 1) must be an unsigned 32-bit integer',
      });
      return;
    }
    if (message.length !== 4) {
      this.respondError(id, { code: ErrorCode.INVALID_REQUEST, message: `invalid request: expected 4 elements [0, id, method, params], got ${message.length}` });
      return;
    }
    const method = message[2];
    const params = message[3];
    if (typeof method !== 'string') {
      this.respondError(id, { code: ErrorCode.INVALID_REQUEST, message: 'invalid request: the method (element 2) must be a string' });
      return;
    }
    if (params !== null && params !== undefined && (typeof params !== 'object' || Array.isArray(params) || Buffer.isBuffer(params))) {
      this.respondError(id, { code: ErrorCode.INVALID_PARAMS, message: 'invalid params: params (element 3) must be a map or nil', data: { field: '' } });
      return;
    }
    if (this.inflight >= this.limits.maxInflightRequests) {
      this.respondError(id, {
        code: ErrorCode.LIMIT_EXCEEDED,
        message: `too many requests in flight on this connection (limit ${this.limits.maxInflightRequests})`,
        data: { limit: this.limits.maxInflightRequests },
      });
      return;
    }
    this.run(id, method, params ?? {});
  }

  private run(id: number, method: string, params: unknown): void {
    const after: Array<() => void> = [];
    const ctx: RequestContext = { connection: this, afterResponse: (fn) => after.push(fn) };
    const finish = (error: RpcErrorBody | null, result: unknown) => {
      if (this.closed) return;
      this.out.write([MSG_RESPONSE, id, error, error ? null : (result ?? null)]);
      for (const fn of after) fn();
    };
    let outcome: unknown;
    try {
      outcome = this.dispatch(method, params, ctx);
    } catch (err) {
      finish(toErrorBody(err), null);
      return;
    }
    if (outcome instanceof Promise) {
      this.inflight++;
      outcome.then(
        (result) => {
          this.inflight--;
          finish(null, result);
        },
        (err) => {
          this.inflight--;
          finish(toErrorBody(err), null);
        },
      );
    } else {
      finish(null, outcome);
    }
  }

  private respondError(id: number, error: RpcErrorBody): void {
    this.out.write([MSG_RESPONSE, id, error, null]);
  }
}

export function toErrorBody(err: unknown): RpcErrorBody {
  if (err instanceof ProtocolError) return err.toBody();
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCode.INTERNAL_ERROR, message: `internal error: ${message}` };
}
