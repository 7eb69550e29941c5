/**
 * The dashboard's HTTP server: the web page, JSON and SSE routes, and /metrics — a client of
 * the conductor through one EventBridge. Binds 127.0.0.1 unless told otherwise. Every route
 * needs the token (auth.ts), on loopback too; each client is rate-limited (rateLimit.ts). On a
 * loopback bind the Host header must name a loopback host, so a web page elsewhere cannot
 * reach it through DNS rebinding.
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { conductorPaths, resolveHome, type ConductorPaths } from '../shared/paths.js';
import { packageUrl } from '../shared/packageFiles.js';
import { eventTypes } from '../ipc/schema.js';
import { DashboardAuth, isLoopbackAddress, loadOrCreateToken, type DashboardAuthMode } from './auth.js';
import { EventBridge, TooManyConsumers } from './bridge.js';
import type { RouteContext, RouteRequest } from './context.js';
import { HttpError, sendError, sendJson } from './http.js';
import { SseStream } from './sse.js';
import { eventsStream } from './routes/events.js';
import { fleetEvents, fleetHosts } from './routes/fleet.js';
import { jobDetail, jobHistory, jobLogDownload, jobLogInfo, jobLogs, jobStream, listJobs } from './routes/jobs.js';
import { metrics } from './routes/metrics.js';
import { monitorHistory, monitorSnapshot, monitorStream } from './routes/monitor.js';
import { RateLimiter, type RateLimitOptions } from './rateLimit.js';
import type { LogFn } from '../log/logger.js';

export { isLoopbackAddress };

export interface DashboardOptions {
  home?: string;
  socketPath?: string;
  host?: string;
  /** 0 picks a free port. No default here: the caller's config holds it (dashboard_port). */
  port: number;
  /** The token every request must carry; when absent, the one kept in tokenFile (created if missing). */
  token?: string;
  /** "none" turns the token off (loopback only, with a warning at start). Default "token". */
  auth?: DashboardAuthMode;
  /** Default: $MZT_HOME/run/dashboard.token. */
  tokenFile?: string;
  rateLimit?: RateLimitOptions;
  maxSseClients?: number;
  heartbeatMs?: number;
  logPollMs?: number;
  maxDownloadBytes?: number;
  /** Events one SSE stream may have queued before it reads from the log instead. */
  queueLimit?: number;
  /** See BridgeOptions.maxQueuedBytes. */
  bridgeMaxQueuedBytes?: number;
  /** How long the bridge keeps following the conductor after the last page left (tests shorten it). */
  bridgeLingerMs?: number;
  log?: LogFn;
  /** /metrics adds the serving process's process_* and nodejs_* series (default true). */
  processMetrics?: boolean;
}


const WEB_DIR = fileURLToPath(packageUrl('src/dashboard/web'));
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(WEB_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: path.join(WEB_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/jobCost.js': { file: path.join(WEB_DIR, 'jobCost.js'), type: 'text/javascript; charset=utf-8' },
  '/jobPage.js': { file: path.join(WEB_DIR, 'jobPage.js'), type: 'text/javascript; charset=utf-8' },
  '/timeline.js': { file: path.join(WEB_DIR, 'timeline.js'), type: 'text/javascript; charset=utf-8' },
  '/fleet.js': { file: path.join(WEB_DIR, 'fleet.js'), type: 'text/javascript; charset=utf-8' },
  '/monitorView.js': { file: path.join(WEB_DIR, 'monitorView.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: path.join(WEB_DIR, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: path.join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: path.join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

type Handler = (ctx: RouteContext, r: RouteRequest) => Promise<void>;

/** Path templates; `{id}` is one path segment. */
const ROUTE_TABLE: Array<[string, Handler]> = [
  ['/api/monitor/stream', monitorStream],
  ['/api/monitor/snapshot', monitorSnapshot],
  ['/api/monitor/history', monitorHistory],
  ['/api/events', eventsStream],
  ['/api/jobs', listJobs],
  ['/api/jobs/{id}', jobDetail],
  ['/api/jobs/{id}/stream', jobStream],
  ['/api/jobs/{id}/history', jobHistory],
  ['/api/jobs/{id}/logs', jobLogs],
  ['/api/jobs/{id}/logs/static', jobLogDownload],
  ['/api/jobs/{id}/logs/info', jobLogInfo],
  ['/api/fleet/hosts', fleetHosts],
  ['/api/fleet/events', fleetEvents],
  ['/metrics', metrics],
];

const ROUTES: Array<[RegExp, Handler]> = ROUTE_TABLE.map(([template, handler]) => [
  new RegExp(`^${template.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
  handler,
]);

/** Every path the server answers (templates with `{id}`): what the auth test walks. */
export const DASHBOARD_ROUTES: readonly string[] = [...Object.keys(STATIC), '/api/event-types', '/api/status', ...ROUTE_TABLE.map(([t]) => t)];

const LOGIN_HINT = 'this dashboard needs its token: run `mzt dashboard` as the account that runs the conductor and open the URL it prints (scripts: send "Authorization: Bearer <token>")';

function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  return header.split(':')[0]!;
}

export class DashboardServer {
  readonly bridge: EventBridge;
  readonly paths: ConductorPaths;
  readonly host: string;
  /** The token requests must carry (undefined with auth "none"). */
  readonly token: string | undefined;
  readonly auth: DashboardAuth;
  readonly limiter: RateLimiter;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sse = new Set<SseStream>();
  private readonly ctx: RouteContext;
  private readonly maxSse: number;
  private stoppingFlag = false;
  private boundPort = 0;

  constructor(private readonly options: DashboardOptions) {
    this.paths = conductorPaths(options.home ?? resolveHome());
    const socketPath = options.socketPath ?? this.paths.socketPath;
    this.host = options.host ?? '127.0.0.1';
    const mode = options.auth ?? 'token';
    if (mode === 'none' && !isLoopbackAddress(this.host)) {
      throw new Error(`dashboard auth "none" is allowed only on a loopback address, not ${this.host}`);
    }
    this.token = mode === 'none' ? undefined : options.token || loadOrCreateToken(options.tokenFile ?? this.paths.dashboardTokenFile);
    this.auth = new DashboardAuth(mode, this.token);
    this.limiter = new RateLimiter(options.rateLimit);
    this.maxSse = options.maxSseClients ?? 64;
    this.bridge = new EventBridge({
      socketPath,
      queueLimit: options.queueLimit,
      maxConsumers: this.maxSse,
      maxQueuedBytes: options.bridgeMaxQueuedBytes,
      lingerMs: options.bridgeLingerMs,
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
      processMetrics: options.processMetrics ?? true,
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
    return `http://${h}:${this.boundPort}/${this.token ? `?token=${encodeURIComponent(this.token)}` : ''}`;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    this.bridge.start();
    const log = this.options.log;
    if (log) {
      // The token stays out of logs (they get pasted around): `mzt dashboard` prints the URL.
      log(`dashboard on ${this.url.replace(/\?token=.*$/, '')}${this.token ? ' (login URL: mzt dashboard)' : ''}`);
      if (!isLoopbackAddress(this.host)) log(`dashboard: bound to ${this.host}, reachable from other machines`, 'warn');
      if (this.auth.mode === 'none') {
        log('dashboard: WARNING dashboard_auth is "none": every account on this machine can read every job\'s output, argv and processes here', 'warn');
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
      const auth = this.auth.check(req, url, this.boundPort);
      // Before anything else, refused requests included: one bucket for holders of the token and
      // one for everyone else at an address, so a flood without it leaves the owner's alone.
      const admission = this.limiter.take(`${req.socket.remoteAddress ?? '?'} ${auth.ok ? 'token' : '-'}`);
      if (!admission.ok) {
        throw new HttpError(429, `too many requests: at most ${this.limiter.burst} at once and ${this.limiter.perSecond} a second per client; retry in ${admission.retryAfterSeconds} s`, {
          'retry-after': String(admission.retryAfterSeconds),
        });
      }
      if (isLoopbackAddress(this.host) && !isLoopbackAddress(hostOf(req.headers.host))) {
        throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed: this dashboard answers only to localhost`);
      }
      if (!auth.ok) {
        this.refuse(req, res, auth.reason ?? 'no token given');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new HttpError(405, `method ${req.method} not allowed: the dashboard is read-only`, { allow: 'GET, HEAD' });
      }
      if (auth.login) {
        // The one-time login URL: set the cookie and send the browser on without the token
        // (out of its address bar and history).
        url.searchParams.delete('token');
        const rest = url.searchParams.toString();
        res.writeHead(303, { location: `${pathname}${rest ? `?${rest}` : ''}`, 'set-cookie': this.auth.setCookie(this.boundPort), 'cache-control': 'no-store', 'content-length': 0 });
        res.end();
        return;
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
      if (status === 500) this.options.log?.(`dashboard: ${req.method} ${pathname} failed: ${(err as Error).stack ?? err}`, 'error');
      if (!res.headersSent) sendError(res, status, (err as Error).message, headers);
      else res.end();
    }
  }

  /** 401: plain text for a browser opening a page, JSON like every other error for the rest. */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, reason: string): void {
    const headers = { 'www-authenticate': 'Bearer' };
    if (/text\/html/.test(req.headers.accept ?? '')) {
      const text = `401 Unauthorized: ${reason}.\n${LOGIN_HINT}\n`;
      res.writeHead(401, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    sendError(res, 401, `${reason}; ${LOGIN_HINT}`, headers);
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
