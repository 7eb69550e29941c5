/**
 * The socket methods of the dashboard's fleet view: `fleet.hosts` and `fleet.events`, answered
 * by the fleet worker over its NATS connection (no second connection in the main thread).
 * Without config `fleet`, or while NATS cannot be reached, they answer NOT_AVAILABLE with
 * `data.reason` (not_in_fleet | nats_unreachable | failed) so a client can tell them apart.
 */
import { ErrorCode, ProtocolError } from '../../ipc/messages.js';
import type { Fleet } from '../../fleet/index.js';
import type { FleetQuery } from '../../fleet/fleetView.js';
import type { Handlers } from '../../ipc/methodTable.js';

async function ask(fleet: Fleet | undefined, query: FleetQuery): Promise<unknown> {
  if (!fleet) {
    throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'this conductor is not in a fleet (config.json has no "fleet": {nats_url, host?})', { reason: 'not_in_fleet' });
  }
  const answer = await fleet.query(query);
  if (answer.ok) return answer.result;
  throw new ProtocolError(ErrorCode.NOT_AVAILABLE, `fleet ${fleet.status().host} via ${fleet.status().nats_url}: ${answer.error}`, { reason: answer.reason });
}

export function fleetHandlers(fleet: () => Fleet | undefined): Pick<Handlers, 'fleet.hosts' | 'fleet.events'> {
  return {
    'fleet.hosts': () => ask(fleet(), { kind: 'hosts' }) as Promise<Record<string, unknown>>,
    'fleet.events': (p) =>
      ask(fleet(), { kind: 'events', limit: p.limit, ...(p.since_stream_seq !== undefined ? { since_stream_seq: p.since_stream_seq } : {}) }) as Promise<Record<string, unknown>>,
  };
}
