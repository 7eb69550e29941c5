/**
 * The conductor's socket server: node-ipc 12.0.0 as the Unix-socket transport in raw-buffer
 * mode, our own framing and msgpack on top. node-ipc's defaults are wrong for us
 * (DESIGN.md): utf8 encoding corrupts binary data (→ latin1, which round-trips bytes),
 * `unlink` would delete a live conductor's socket (→ false; the start guard removes stale
 * sockets only after proving them dead), and its connection cap silently drops the excess
 * (→ raised above our own limit, which refuses with a clear error instead). Its `emit`
 * copies and ignores backpressure, so replies go straight to the raw socket via Outbound.
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { IPCModule } from 'node-ipc';
import { Connection, type ConnectionLimits, type Dispatch } from './connection.js';
import { SocketFrameWriter } from './frameIO.js';
import { DEFAULT_MAX_FRAME_BYTES } from './framing.js';
import { ErrorCode, MSG_NOTIFICATION } from './messages.js';
import { DEFAULT_OUTBOUND_LIMITS } from './outbound.js';
import type { ReplayableLog } from './subscription.js';
import type { EventEnvelope } from '../events/types.js';
import type { LogFn } from '../log/logger.js';

export interface ServerLimits {
  max_frame_bytes: number;
  max_connections: number;
  max_subscriptions_per_connection: number;
  max_inflight_requests_per_connection: number;
  events_read_max_limit: number;
  subscriber_queue: {
    default_events: number;
    max_events: number;
    default_bytes: number;
    max_bytes: number;
  };
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
  max_connections: 1024,
  max_subscriptions_per_connection: 64,
  max_inflight_requests_per_connection: 256,
  events_read_max_limit: 1000,
  subscriber_queue: {
    default_events: 10_000,
    max_events: 100_000,
    default_bytes: 8 * 1024 * 1024,
    max_bytes: 64 * 1024 * 1024,
  },
};

export interface LiveEventSource {
  subscribe(handler: (event: EventEnvelope, bytes: Buffer) => void): () => void;
}

export interface IpcServerOptions {
  socketPath: string;
  log: ReplayableLog;
  events: LiveEventSource;
  dispatch: Dispatch;
  limits?: ServerLimits;
  logger?: LogFn;
}

export class IpcServer {
  readonly limits: ServerLimits;
  private readonly ipc = new IPCModule();
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;
  private unsubscribeBus: (() => void) | undefined;
  private accepting = true;
  /** Bytes read from all clients since start (a measure of activity, for the idle heap release). */
  bytesReceived = 0;

  constructor(private readonly options: IpcServerOptions) {
    this.limits = options.limits ?? DEFAULT_SERVER_LIMITS;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get subscriptionCount(): number {
    let n = 0;
    for (const c of this.connections) n += c.subscriptions.size;
    return n;
  }

  /** Bind the socket (mode 0600). The caller has already made sure no live conductor owns the path. */
  listen(): Promise<void> {
    const cfg = this.ipc.config;
    cfg.rawBuffer = true;
    cfg.encoding = 'latin1';
    cfg.unlink = false;
    cfg.silent = true;
    cfg.readableAll = false;
    cfg.writableAll = false;
    // Far above our own limit, so the excess reaches us and gets a clear refusal instead of
    // being reset by net.Server (a refused connection costs one fd for about a second).
    cfg.maxConnections = this.limits.max_connections * 8;

    return new Promise((resolve, reject) => {
      const previousUmask = process.umask(0o177);
      this.ipc.serve(this.options.socketPath, () => {
        process.umask(previousUmask);
        try {
          fs.chmodSync(this.options.socketPath, 0o600);
        } catch (err) {
          reject(err);
          return;
        }
        resolve();
      });
      const server = this.ipc.server;
      server.on('connect', (socket: Socket) => this.accept(socket));
      server.on('data', (data: Buffer, socket: Socket) => this.route(socket, data));
      server.on('error', (err: unknown) => this.options.logger?.(`socket server error: ${String(err)}`, 'warn'));
      server.start();
      server.server.once('error', (err) => {
        process.umask(previousUmask);
        reject(err);
      });
      this.unsubscribeBus = this.options.events.subscribe((event, bytes) => {
        for (const c of this.connections) {
          // A failure is that connection's problem: the bus would drop this whole handler.
          try {
            c.deliver(event, bytes);
          } catch (err) {
            this.options.logger?.(`connection ${c.id}: delivery failed, closing it: ${(err as Error).message}`, 'warn');
            c.destroy();
          }
        }
      });
    });
  }

  /** Stop accepting; tell every client; close all connections once their queues are written. */
  async close(reason = 'shutdown'): Promise<void> {
    this.accepting = false;
    this.unsubscribeBus?.();
    this.unsubscribeBus = undefined;
    for (const c of this.connections) {
      for (const sub of c.subscriptions.values()) sub.notify('stream.closed', { reason: 'shutdown' });
      c.endGracefully({ method: 'server.shutdown', params: { reason } });
    }
    await new Promise<void>((resolve) => {
      const server = this.ipc.server?.server;
      if (!server || !server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      // Connections that do not finish are destroyed by endGracefully's own timer.
    });
    try {
      fs.unlinkSync(this.options.socketPath);
    } catch {
      /* already gone */
    }
  }

  private readonly bySocket = new WeakMap<Socket, Connection>();

  private accept(socket: Socket): void {
    if (!this.accepting || this.connections.size >= this.limits.max_connections) {
      const message = this.accepting
        ? `too many connections (limit ${this.limits.max_connections})`
        : 'the conductor is shutting down';
      new SocketFrameWriter(socket).abort([MSG_NOTIFICATION, 'server.error', {
        code: this.accepting ? ErrorCode.LIMIT_EXCEEDED : ErrorCode.SHUTTING_DOWN,
        message,
      }]);
      return;
    }
    const limits: ConnectionLimits = {
      maxFrameBytes: this.limits.max_frame_bytes,
      maxInflightRequests: this.limits.max_inflight_requests_per_connection,
      maxSubscriptions: this.limits.max_subscriptions_per_connection,
      outbound: DEFAULT_OUTBOUND_LIMITS,
    };
    const connection = new Connection(
      this.nextConnectionId++,
      socket,
      limits,
      this.options.dispatch,
      this.options.log,
      (c) => {
        this.connections.delete(c);
        this.options.logger?.(`connection ${c.id} closed`, 'debug');
      },
    );
    this.connections.add(connection);
    this.options.logger?.(`connection ${connection.id} opened`, 'debug');
    this.bySocket.set(socket, connection);
  }

  private route(socket: Socket, data: Buffer): void {
    this.bytesReceived += data.length;
    const connection = this.bySocket.get(socket);
    if (!connection) return; // refused connection still sending
    try {
      connection.receive(data);
    } catch (err) {
      // Nothing a client sends may take the conductor down.
      this.options.logger?.(`connection ${connection.id}: ${(err as Error).stack ?? String(err)}`, 'error');
      connection.destroy();
    }
  }
}
