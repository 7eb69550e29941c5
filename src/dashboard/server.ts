/**
 * The dashboard's HTTP server: the web page, JSON and SSE routes, and /metrics — a client of
 * the conductor through one EventBridge. Binds 127.0.0.1 unless told otherwise; any other
 * address requires a token (generated and printed when none is given). On a loopback bind
 * the Host header must name a loopback host, so a web page elsewhere cannot reach it through
 * DNS rebinding.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG, MIN_DASHBOARD_TOKEN_LENGTH } from '../conductor/config.js';
import { conductorPaths, resolveHome, type ConductorPaths } from '../conductor/paths.js';
import { eventTypes } from '../ipc/schema.js';
import { EventBridge, TooManyConsumers } from './bridge.js';
import type { RouteContext, RouteRequest } from './context.js';
import { HttpError, sendError, sendJson } from './http.js';
import { SseStream } from './sse.js';
import { eventsStream } from './routes/events.js';
import { jobDetail, jobLogDownload, jobLogInfo, jobLogs, jobStream, listJobs } from './routes/jobs.js';
import { metrics } from './routes/metrics.js';
import { monitorHistory, monitorSnapshot, monitorStream } from './routes/monitor.js';

export interface DashboardOptions {
  home?: string;
  socketPath?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Required for a non-loopback bind (generated when absent); optional on loopback. */
  token?: string;
  maxSseClients?: number;
  heartbeatMs?: number;
  logPollMs?: number;
  maxDownloadBytes?: number;
  /** Events one SSE stream may have queued before it reads from the log instead. */
  queueLimit?: number;
  /** See BridgeOptions.maxQueuedBytes. */
  bridgeMaxQueuedBytes?: number;
  log?: (line: string) => void;
}


const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/dashboard/web');
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(WEB_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(WEB_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: path.join(WEB_DIR, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: path.join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: path.join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

type Handler = (ctx: RouteContext, r: RouteRequest) => Promise<void>;

const ROUTES: Array<[RegExp, Handler]> = [
  [/^\/api\/monitor\/stream$/, monitorStream],
  [/^\/api\/monitor\/snapshot$/, monitorSnapshot],
  [/^\/api\/monitor\/history$/, monitorHistory],
  [/^\/api\/events$/, eventsStream],
  [/^\/api\/jobs$/, listJobs],
  [/^\/api\/jobs\/(?<id>[^/]+)$/, jobDetail],
  [/^\/api\/jobs\/(?<id>[^/]+)\/stream$/, jobStream],
  [/^\/api\/jobs\/(?<id>[^/]+)\/logs$/, jobLogs],
  [/^\/api\/jobs\/(?<id>[^/]+)\/logs\/static$/, jobLogDownload],
  [/^\/api\/jobs\/(?<id>[^/]+)\/logs\/info$/, jobLogInfo],
  [/^\/metrics$/, metrics],
];

export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  return header.split(':')[0]!;
}

export class DashboardServer {
  readonly bridge: EventBridge;
  readonly paths: ConductorPaths;
  readonly host: string;
  /** The token requests must carry, when one is required. */
  readonly token: string | undefined;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sse = new Set<SseStream>();
  private readonly ctx: RouteContext;
  private readonly maxSse: number;
  private stoppingFlag = false;
  private boundPort = 0;

  constructor(private readonly options: DashboardOptions = {}) {
    this.paths = conductorPaths(options.home ?? resolveHome());
    const socketPath = options.socketPath ?? this.paths.socketPath;
    this.host = options.host ?? '127.0.0.1';
    const loopback = isLoopbackAddress(this.host);
    if (options.token !== undefined && options.token.length < MIN_DASHBOARD_TOKEN_LENGTH) {
      throw new Error(`dashboard token: use at least ${MIN_DASHBOARD_TOKEN_LENGTH} characters`);
    }
    this.token = options.token || (loopback ? undefined : crypto.randomBytes(18).toString('base64url'));
    this.maxSse = options.maxSseClients ?? 64;
    this.bridge = new EventBridge({
      socketPath,
      queueLimit: options.queueLimit,
      maxConsumers: this.maxSse,
      maxQueuedBytes: options.bridgeMaxQueuedBytes,
      log: options.log,
    });
    this.ctx = {
      bridge: this.bridge,
      paths: this.paths,
      socketPath,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      logPollMs: options.logPollMs ?? 250,
      maxDownloadBytes: options.maxDownloadBytes ?? 50 * 1024 * 1024,
      openSse: (r) => this.openSse(r),
      sseClients: () => this.sse.size,
      stopping: () => this.stoppingFlag,
    };
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** The address to open, with the token when one is required. */
  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.boundPort}/${this.token ? `?token=${this.token}` : ''}`;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? DEFAULT_CONFIG.dashboard_port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    this.bridge.start();
    const log = this.options.log;
    if (log) {
      log(`dashboard on ${this.url}`);
      if (!isLoopbackAddress(this.host)) {
        log(`dashboard: bound to ${this.host}, reachable from other machines; every request needs the token (header "Authorization: Bearer <token>" or "?token=")`);
      }
    }
    return this.url;
  }

  /** Every open stream gets `bridge_stopped`, then the server closes. */
  async stop(): Promise<void> {
    if (this.stoppingFlag) return;
    this.stoppingFlag = true;
    await this.bridge.stop();
    // Each stream writes its own bridge_stopped and ends; give them a moment before forcing.
    for (let waited = 0; this.sse.size > 0 && waited < 1000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sse) s.end();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Streams just ended; idle keep-alive sockets would hold close() open.
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 200).unref();
    });
  }

  private openSse(r: RouteRequest): SseStream {
    if (this.sse.size >= this.maxSse) {
      throw new HttpError(503, `too many live streams open (limit ${this.maxSse}); close a dashboard tab or try again later`, { 'retry-after': '5' });
    }
    const stream = new SseStream(r.res);
    this.sse.add(stream);
    stream.onClose(() => this.sse.delete(stream));
    return stream;
  }

  private authorized(req: http.IncomingMessage, url: URL): boolean {
    if (!this.token) return true;
    const header = req.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice(7) : (url.searchParams.get('token') ?? '');
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    let url: URL;
    // Route on the path as sent: URL parsing would resolve "/api/jobs/.." to "/api/", and a
    // job id of ".." must be refused as such.
    const pathname = (req.url ?? '/').split('?')[0]!;
    try {
      url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    } catch {
      sendError(res, 400, 'malformed request URL');
      return;
    }
    try {
      if (isLoopbackAddress(this.host) && !isLoopbackAddress(hostOf(req.headers.host))) {
        throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed: this dashboard answers only to localhost`);
      }
      if (!this.authorized(req, url)) {
        throw new HttpError(401, 'a token is required: send "Authorization: Bearer <token>" or add ?token=<token> (it was printed when the dashboard started)', {
          'www-authenticate': 'Bearer',
        });
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new HttpError(405, `method ${req.method} not allowed: the dashboard is read-only`, { allow: 'GET, HEAD' });
      }
      const asset = STATIC[pathname];
      if (asset) {
        await serveFile(res, asset.file, asset.type);
        return;
      }
      if (pathname === '/api/event-types') {
        // SSE events are named by type and EventSource listens by name: the page asks for the list.
        sendJson(res, 200, { types: eventTypes() });
        return;
      }
      if (pathname === '/api/status') {
        sendJson(res, 200, await this.status());
        return;
      }
      for (const [pattern, handler] of ROUTES) {
        const m = pattern.exec(pathname);
        if (!m) continue;
        await handler(this.ctx, { req, res, url, query: url.searchParams, params: { ...(m.groups ?? {}) } });
        return;
      }
      throw new HttpError(404, `no such page or API route: ${pathname.slice(0, 200)}`);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : err instanceof TooManyConsumers ? 503 : 500;
      const headers = err instanceof HttpError ? err.headers : {};
      if (status === 500) this.options.log?.(`dashboard: ${req.method} ${pathname} failed: ${(err as Error).stack ?? err}`);
      if (!res.headersSent) sendError(res, status, (err as Error).message, headers);
      else res.end();
    }
  }

  private async status(): Promise<Record<string, unknown>> {
    const conductor = this.bridge.connected ? await this.bridge.call('daemon.status').catch(() => null) : null;
    return {
      connected: this.bridge.connected,
      conductor,
      dashboard: {
        sse_clients: this.sse.size,
        max_sse_clients: this.maxSse,
        bridge_last_seq: this.bridge.lastSeq ?? null,
        events_per_second: this.bridge.eventsPerSecond(),
        snapshot_age_seconds: this.bridge.latestSnapshot ? (Date.now() - this.bridge.latestSnapshotAt) / 1000 : null,
      },
    };
  }
}

async function serveFile(res: http.ServerResponse, file: string, type: string): Promise<void> {
  let body: Buffer;
  try {
    body = await fs.promises.readFile(file);
  } catch {
    throw new HttpError(500, `dashboard asset missing: ${file}`);
  }
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(body);
}
