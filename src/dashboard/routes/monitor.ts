/**
 * /api/monitor/stream and /api/monitor/snapshot: the machine as the profiler sees it.
 * Sources: the conductor (live snapshots through the bridge), else monitor.jsonl (tailed),
 * else monitor.db (polled) — so the page still shows the last known state when the conductor
 * is down.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RpcError } from '../../ipc/client.js';
import { ErrorCode } from '../../ipc/messages.js';
import type { SystemSnapshot } from '../../monitor/snapshot.js';
import { JsonlTail } from '../../storage/jsonlTail.js';
import { SnapshotReader } from '../../storage/snapshotReader.js';
import { ConductorNotRunning } from '../../ipc/clientErrors.js';
import { HttpError, numberParam, rpcToHttp, sendJson } from '../http.js';
import type { RouteContext, RouteRequest } from '../context.js';
import type { SseStream } from '../sse.js';
import { nextBatch, sendHeartbeat } from '../consumer.js';

const SOURCES = ['auto', 'daemon', 'jsonl', 'sqlite'] as const;
type Source = (typeof SOURCES)[number];

const NO_DATA = 'No monitor data available: the conductor is not running and it left no monitor.jsonl or monitor.db. Start it with: mzt conductor start';


export async function monitorStream(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const requested = (r.query.get('source') ?? 'auto') as Source;
  if (!SOURCES.includes(requested)) {
    throw new HttpError(400, `Invalid source: ${JSON.stringify(r.query.get('source'))}. Must be 'auto', 'daemon', 'jsonl', or 'sqlite'.`);
  }
  const pollSeconds = numberParam(r.query, 'poll_interval', { min: 0.5, max: 30, default: 1 });
  const { monitorJsonl, monitorDb } = ctx.paths;
  let source: Exclude<Source, 'auto'>;
  if (requested === 'auto') {
    if (ctx.bridge.connected) source = 'daemon';
    else if (fs.existsSync(monitorJsonl)) source = 'jsonl';
    else if (fs.existsSync(monitorDb)) source = 'sqlite';
    else throw new HttpError(503, NO_DATA);
  } else {
    source = requested;
    if (source === 'daemon' && !ctx.bridge.connected) throw new HttpError(503, new ConductorNotRunning(ctx.socketPath).message);
    if (source === 'jsonl' && !fs.existsSync(monitorJsonl)) throw new HttpError(503, `No monitor data available: ${monitorJsonl} does not exist`);
    if (source === 'sqlite' && !fs.existsSync(monitorDb)) throw new HttpError(503, `No monitor data available: ${monitorDb} does not exist`);
  }
  const pollMs = pollSeconds * 1000;
  if (source === 'daemon') return streamFromBridge(ctx, r, pollMs);
  if (source === 'jsonl') return streamFromJsonl(ctx, r, pollMs);
  return streamFromSqlite(ctx, r, pollMs);
}

/** Live snapshots from the bridge, at most one per poll interval (the newest wins). */
async function streamFromBridge(ctx: RouteContext, r: RouteRequest, pollMs: number): Promise<void> {
  const sse = ctx.openSse(r);
  const consumer = ctx.bridge.register({ events: false, snapshots: true });
  sse.onClose(() => ctx.bridge.unregister(consumer));
  try {
    sse.send('connected', { source: 'daemon' });
    let lastSentAt = 0;
    let pending: SystemSnapshot | undefined = ctx.bridge.latestSnapshot;
    while (!sse.closed) {
      if (pending && Date.now() - lastSentAt >= pollMs) {
        if (!sse.send('snapshot', pending)) await sse.drained();
        pending = undefined;
        lastSentAt = Date.now();
      }
      const waitMs = pending ? Math.max(1, pollMs - (Date.now() - lastSentAt)) : ctx.heartbeatMs;
      const batch = await nextBatch(consumer, sse, waitMs);
      if (batch === 'end') break;
      if (batch === 'idle') {
        if (!pending) sendHeartbeat(sse, ctx.bridge.connected);
        continue;
      }
      if (batch.snapshot) pending = batch.snapshot;
    }
  } finally {
    ctx.bridge.unregister(consumer);
    sse.end();
  }
}

async function streamFromJsonl(ctx: RouteContext, r: RouteRequest, pollMs: number): Promise<void> {
  const tail = new JsonlTail(ctx.paths.monitorJsonl);
  const sse = ctx.openSse(r);
  try {
    sse.send('connected', { source: 'jsonl', path: ctx.paths.monitorJsonl });
    const sendLine = (line: string): boolean => {
      try {
        return sse.send('snapshot', JSON.parse(line) as unknown);
      } catch {
        return true; // not JSON (a torn or foreign line): skipped
      }
    };
    const last = tail.lastLine();
    if (last) sendLine(last);
    // Only the newest line matters to a live view; older ones are history (monitor.history).
    await pollNewest(ctx, sse, pollMs, () => {
      const newest = tail.readNew().at(-1);
      return newest === undefined ? undefined : () => sendLine(newest);
    });
  } finally {
    sse.end();
  }
}

async function streamFromSqlite(ctx: RouteContext, r: RouteRequest, pollMs: number): Promise<void> {
  let reader: SnapshotReader;
  try {
    reader = new SnapshotReader(ctx.paths.monitorDb);
  } catch (err) {
    throw new HttpError(503, `No monitor data available: cannot open ${ctx.paths.monitorDb}: ${(err as Error).message}`);
  }
  const sse = ctx.openSse(r);
  try {
    sse.send('connected', { source: 'sqlite', path: ctx.paths.monitorDb });
    let lastTs = 0;
    const latest = reader.latest();
    if (latest) {
      sse.send('snapshot', latest);
      lastTs = latest.timestamp;
    }
    await pollNewest(ctx, sse, pollMs, () => {
      let newest: SystemSnapshot | undefined;
      try {
        newest = reader.latest();
      } catch (err) {
        sse.send('error', { error: `cannot read ${ctx.paths.monitorDb}: ${(err as Error).message}` });
      }
      if (!newest || newest.timestamp <= lastTs) return undefined;
      lastTs = newest.timestamp;
      return () => sse.send('snapshot', newest);
    });
  } finally {
    reader.close();
    sse.end();
  }
}

/**
 * Every poll interval, asks `next` for something new to send (a function that sends it and
 * returns write()'s result); a heartbeat after an idle stretch. Ends with the stream.
 */
async function pollNewest(ctx: RouteContext, sse: SseStream, pollMs: number, next: () => (() => boolean) | undefined): Promise<void> {
  let idleSince = Date.now();
  while (!sse.closed && !ctx.stopping()) {
    await sleep(pollMs);
    const send = next();
    if (send) {
      if (!send()) await sse.drained();
      idleSince = Date.now();
    } else if (Date.now() - idleSince >= ctx.heartbeatMs) {
      sendHeartbeat(sse, ctx.bridge.connected);
      idleSince = Date.now();
    }
  }
}

/** The latest snapshot: live from the conductor, else the newest stored one of the last minute. */
export async function monitorSnapshot(ctx: RouteContext, r: RouteRequest): Promise<void> {
  if (ctx.bridge.connected) {
    try {
      const snapshot = await ctx.bridge.call<SystemSnapshot>('monitor.snapshot');
      sendJson(r.res, 200, snapshot, { 'x-mzt-source': 'daemon' });
      return;
    } catch (err) {
      if (err instanceof RpcError && err.code === ErrorCode.NOT_AVAILABLE) throw new HttpError(404, `No snapshot yet: ${err.message}`);
      if (!(err instanceof ConductorNotRunning)) throw err;
    }
  }
  if (!fs.existsSync(ctx.paths.monitorDb)) throw new HttpError(503, NO_DATA);
  let reader: SnapshotReader;
  try {
    reader = new SnapshotReader(ctx.paths.monitorDb);
  } catch (err) {
    throw new HttpError(503, `No monitor data available: cannot open ${ctx.paths.monitorDb}: ${(err as Error).message}`);
  }
  try {
    const latest = reader.latest();
    const ageSeconds = latest ? Date.now() / 1000 - latest.timestamp : undefined;
    if (!latest || ageSeconds! > 60) {
      throw new HttpError(
        404,
        latest
          ? `No recent snapshots found: the newest is ${Math.round(ageSeconds!)} s old (the conductor is not running)`
          : 'No recent snapshots found: monitor.db holds none',
      );
    }
    sendJson(r.res, 200, latest, { 'x-mzt-source': 'sqlite' });
  } finally {
    reader.close();
  }
}

/** Stored snapshots for the charts (the conductor's monitor.history), so a page opens with a past. */
export async function monitorHistory(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const params: Record<string, unknown> = {
    limit: numberParam(r.query, 'limit', { min: 1, max: 10_000, default: 300, integer: true }),
  };
  const since = r.query.get('since');
  if (since !== null) params.since = numberParam(r.query, 'since', { min: 0, max: 1e11, default: 0 });
  const resolution = r.query.get('resolution');
  if (resolution !== null) {
    if (resolution !== 'full' && resolution !== 'minute') throw new HttpError(400, `resolution must be 'full' or 'minute', got ${JSON.stringify(resolution)}`);
    params.resolution = resolution;
  }
  try {
    sendJson(r.res, 200, await ctx.bridge.call('monitor.history', params));
  } catch (err) {
    rpcToHttp(err);
  }
}
