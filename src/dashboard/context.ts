/** What every route handler gets: the request, and the dashboard's shared parts. */
import type http from 'node:http';
import type { ConductorPaths } from '../shared/paths.js';
import type { EventBridge } from './bridge.js';
import type { SseStream } from './sse.js';

export interface RouteRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  query: URLSearchParams;
  /** Path parameters, already URL-decoded. */
  params: Record<string, string>;
}

export interface RouteContext {
  bridge: EventBridge;
  paths: ConductorPaths;
  socketPath: string;
  /** Idle time after which a stream sends a heartbeat. */
  heartbeatMs: number;
  /** How often a followed log file is checked for new lines. */
  logPollMs: number;
  /** Largest log served by /logs/static (the streaming route has no limit). */
  maxDownloadBytes: number;
  /** Starts an SSE response; 503 when the limit of concurrent streams is reached. */
  openSse(r: RouteRequest): SseStream;
  sseClients(): number;
  /** /metrics includes this process's `process_*`/`nodejs_*` series (metrics/exposition.ts). */
  processMetrics: boolean;
  stopping(): boolean;
}
