/**
 * /api/fleet/hosts and /api/fleet/events: the fleet view's data, asked of the conductor
 * (`fleet.hosts`, `fleet.events`), which reads it through its fleet worker. A conductor not in
 * a fleet answers 200 `{in_fleet: false, reason, message}` (a state, not a failure) and one that
 * cannot reach NATS 503 with `reason`, so the page can hide the view or say why it is empty.
 */
import { RpcError } from '../../ipc/client.js';
import { ErrorCode } from '../../ipc/messages.js';
import { numberParam, rpcToHttp, sendJson } from '../http.js';
import type { RouteContext, RouteRequest } from '../context.js';

/** Above the conductor's own bound for a fleet query (4 s to NATS, 5 s to the worker). */
const CALL_TIMEOUT_MS = 7000;

async function relay(ctx: RouteContext, r: RouteRequest, method: string, params: Record<string, unknown>): Promise<void> {
  try {
    sendJson(r.res, 200, await ctx.bridge.call(method, params, CALL_TIMEOUT_MS));
  } catch (err) {
    if (err instanceof RpcError && err.code === ErrorCode.NOT_AVAILABLE) {
      const reason = (err.data as { reason?: string } | undefined)?.reason ?? 'failed';
      // Not being in a fleet is a state of this conductor, not a failure of the request.
      if (reason === 'not_in_fleet') sendJson(r.res, 200, { in_fleet: false, reason, message: err.message });
      else sendJson(r.res, 503, { error: err.message, status: 503, reason });
      return;
    }
    rpcToHttp(err);
  }
}

export async function fleetHosts(ctx: RouteContext, r: RouteRequest): Promise<void> {
  await relay(ctx, r, 'fleet.hosts', {});
}

export async function fleetEvents(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const limit = numberParam(r.query, 'limit', { min: 1, max: 500, default: 100, integer: true });
  const raw = r.query.get('since_stream_seq');
  const since = raw === null || raw === '' ? undefined : numberParam(r.query, 'since_stream_seq', { min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, integer: true });
  await relay(ctx, r, 'fleet.events', { limit, ...(since !== undefined ? { since_stream_seq: since } : {}) });
}
