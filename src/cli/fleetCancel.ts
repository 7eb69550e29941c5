/**
 * What `mzt fleet cancel` came to, said as one line and an exit code like `mzt cancel`'s:
 * 0 cancelled; 1 the job had already ended, is nowhere, or still waits on the queue (a queued
 * job is not taken off it: the fleet cannot cancel one yet); 3 the host that may have it did
 * not answer, as `mzt cancel` exits 3 when its conductor does not.
 */
import type { FleetCancelResult } from '../fleet/client.js';

/** A cancel through the fleet lasts until the job's processes are gone: as long as `mzt cancel` waits. */
export const FLEET_CANCEL_TIMEOUT_SECONDS = 120;

export function describeFleetCancel(r: FleetCancelResult): { line: string; code: number } {
  switch (r.outcome) {
    case 'cancelled':
      return { line: `${r.job_id} cancelled on host ${r.host}`, code: 0 };
    case 'ended':
      return { line: `job ${r.job_id} had already ended on host ${r.host} (${r.status})`, code: 1 };
    case 'queued':
      return { line: `job ${r.job_id} is still on the fleet's queue (${r.queue}), taken by no host; a queued job cannot be cancelled yet, it runs when a host takes it`, code: 1 };
    case 'not_found':
      return { line: `no job ${r.job_id} on ${r.asked.length === 0 ? 'any host: the fleet has no live host' : `any live host (asked ${r.asked.join(', ')})`} nor on the fleet's queue`, code: 1 };
    case 'unreachable':
      return { line: `job ${r.job_id} was not found on the hosts that answered; not answering: ${r.unreachable.join(', ')} (its conductor is down, stuck or not in the fleet; a host that answers late may still cancel it)`, code: 3 };
  }
}
