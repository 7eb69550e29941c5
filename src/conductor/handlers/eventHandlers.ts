/**
 * The event log's methods: read a page of it, follow it live on this connection
 * (subscribe/unsubscribe), and — for tests and benchmarks only — append a burst to it.
 */
import { ErrorCode, ProtocolError } from '../../ipc/messages.js';
import type { Handler, Handlers } from '../../ipc/methodTable.js';
import type { EventStore } from '../../events/store.js';
import { refuseWhileStopping, type MethodDeps } from './methodDeps.js';

type EventMethod = 'events.read' | 'daemon.monitor.stream' | 'unsubscribe';

export function eventHandlers(deps: MethodDeps): Pick<Handlers, EventMethod> {
  const { store } = deps;
  let nextSubscriptionId = 1;
  return {
    'events.read': (p) => {
      const limit = Math.min(p.limit, deps.limits.events_read_max_limit);
      const filter = { job_id: p.job_id, types: p.types };
      const head = store.headSeq;
      const events = store.read(p.since, limit, filter);
      const full = events.length === limit;
      const next = full ? events[events.length - 1]!.seq : Math.max(p.since, head);
      return { events, next_since: next, head_seq: head, has_more: full && next < head };
    },

    'daemon.monitor.stream': (p, ctx) => {
      refuseWhileStopping(deps);
      const q = deps.limits.subscriber_queue;
      const maxEvents = p.max_queued_events ?? q.default_events;
      const maxBytes = p.max_queued_bytes ?? q.default_bytes;
      if (maxEvents > q.max_events || maxBytes > q.max_bytes) {
        throw new ProtocolError(
          ErrorCode.INVALID_PARAMS,
          `invalid params: queue bounds above the maximum (${q.max_events} events, ${q.max_bytes} bytes)`,
          { field: maxEvents > q.max_events ? 'max_queued_events' : 'max_queued_bytes' },
        );
      }
      const id = nextSubscriptionId++;
      const sub = ctx.connection.addSubscription(
        {
          filter: { job_id: p.job_id, types: p.types },
          includeSnapshots: p.include_snapshots,
          policy: p.on_overflow,
          maxQueuedEvents: maxEvents,
          maxQueuedBytes: maxBytes,
          since: p.since,
        },
        id,
      );
      ctx.afterResponse(() => sub.start());
      return { subscription: id, head_seq: store.headSeq };
    },

    unsubscribe: (p, ctx) => {
      if (!ctx.connection.removeSubscription(p.subscription)) {
        throw new ProtocolError(ErrorCode.SUBSCRIPTION_NOT_FOUND, `no subscription ${p.subscription} on this connection`, {
          subscription: p.subscription,
        });
      }
      return { unsubscribed: true };
    },
  };
}

/**
 * Appends `count` synthetic events: the way tests and benchmarks make a burst of durable
 * traffic through the real store, bus and sockets.
 */
export function debugEmit(store: EventStore): Handler<'debug.emit'> {
  return async (p) => {
    const pad = 'x'.repeat(p.size);
    const appends: Array<Promise<{ event: { seq: number } }>> = [];
    // stamp: the monotonic clock (shared by every process on the machine) at the append, in
    // ns, so a benchmark can time append → decoded without the request's own trip.
    const data = (i: number) => (p.stamp ? { i, pad, mono_ns: Number(process.hrtime.bigint()) } : { i, pad });
    for (let i = 0; i < p.count; i++) appends.push(store.append({ type: p.type, data: data(i) }));
    const done = await Promise.all(appends);
    return { first_seq: done[0]?.event.seq ?? null, last_seq: done.at(-1)?.event.seq ?? null };
  };
}
