/**
 * The worker's side of a fleet-view query: answered over the worker's own NATS connection,
 * at once with `nats_unreachable` while it is not connected (the dashboard says so instead
 * of waiting), and within QUERY_NATS_MS otherwise.
 */
import type { FleetConnection } from './connection.js';
import { readEvents, readHosts, type FleetQuery } from './fleetView.js';
import { QUERY_NATS_MS, type FleetQueryAnswer } from './fleetWorkerProtocol.js';


export async function answerQuery(connection: FleetConnection, query: FleetQuery): Promise<FleetQueryAnswer> {
  if (!connection.connected) {
    return { ok: false, reason: 'nats_unreachable', error: `not connected to the fleet's NATS server${connection.lastError ? ` (${connection.lastError})` : ''}` };
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`NATS did not answer within ${QUERY_NATS_MS} ms`)), QUERY_NATS_MS);
  });
  try {
    const link = await Promise.race([connection.ready(), timeout]);
    const result = await Promise.race([query.kind === 'hosts' ? readHosts(link.nc, link.jsm) : readEvents(link.nc, link.jsm, query), timeout]);
    return { ok: true, result };
  } catch (err) {
    const reason = connection.connected ? 'failed' : 'nats_unreachable';
    return { ok: false, reason, error: `reading the fleet from NATS failed: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}
