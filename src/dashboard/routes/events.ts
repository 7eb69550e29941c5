/**
 * /api/events: the global timeline as SSE. Ids are seqs; `Last-Event-ID` or `?since=` resumes
 * from the log, `?tail=N` starts N events back, `?types=job.,sheet.` filters by type prefix.
 */
import { pumpEvents } from '../eventPump.js';
import { numberParam, resumeSeq } from '../http.js';
import type { RouteContext, RouteRequest } from '../context.js';

export async function eventsStream(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const tail = numberParam(r.query, 'tail', { min: 0, max: 10_000, default: 0, integer: true });
  const types = (r.query.get('types') ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  let since = resumeSeq(r.req, r.query);
  if (since === undefined) {
    // Live from the head (minus the tail): a known start lets the stream read from the log
    // whatever the bridge had not yet followed when it opened.
    const head = ctx.bridge.lastSeq ?? (await ctx.bridge.call<{ head_seq: number }>('events.read', { limit: 1 }).catch(() => undefined))?.head_seq;
    if (head !== undefined) since = Math.max(0, head - tail);
  }
  const sse = ctx.openSse(r);
  const consumer = ctx.bridge.register({ events: true, snapshots: false, types });
  sse.onClose(() => ctx.bridge.unregister(consumer));
  sse.send('connected', { connected: ctx.bridge.connected, since: since ?? null, head_seq: ctx.bridge.lastSeq ?? null });
  try {
    await pumpEvents({ sse, bridge: ctx.bridge, consumer, since, types, heartbeatMs: ctx.heartbeatMs });
  } finally {
    ctx.bridge.unregister(consumer);
  }
}
