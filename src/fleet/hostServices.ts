/**
 * What a conductor answers about its own jobs for any machine on the fleet's NATS server
 * (request/reply; the worker only relays, the conductor answers as its socket would):
 * - `mzt fleet logs`: `mzt.<host>.logs`, a job's log as job.logs reads it, in answers that fit
 *   one NATS message;
 * - `mzt fleet cancel`: `mzt.<host>.cancel`, a job cancelled as job.cancel does.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

export const logsSubject = (host: string) => `mzt.${host}.logs`;
export const cancelSubject = (host: string) => `mzt.${host}.cancel`;

/** job.logs' params (checked against its schema in methods.json: tail_lines 0..10000, ...). */
export interface FleetLogRequest {
  job_id: string;
  /** Read forward from this logical offset; absent: the last `tail_lines` lines. */
  offset?: number;
  tail_lines?: number;
}

export type FleetLogAnswer =
  | { ok: true; job_id: string; status: string; lines: string[]; size: number; next_offset: number; truncated: boolean }
  | { ok: false; job_id: string; error: string; code: 'not_found' | 'bad_request' };

/** job.cancel's params (checked against its schema: reason at most 500 characters). */
export interface FleetCancelRequest {
  job_id: string;
  reason?: string;
}

/**
 * `ended`: the job had already ended, `status` says how; `failed`: the conductor could not
 * finish the cancel (its store refuses writes, it is stopping, ...).
 */
export type FleetCancelAnswer =
  | { ok: true; job_id: string; status: 'cancelled' }
  | { ok: false; job_id: string; error: string; code: 'not_found' | 'bad_request' | 'failed' }
  | { ok: false; job_id: string; error: string; code: 'ended'; status: string };

/** The requests a host serves, by name: what the worker relays to the conductor. */
export interface HostRequests {
  logs: { request: FleetLogRequest; answer: FleetLogAnswer };
  cancel: { request: FleetCancelRequest; answer: FleetCancelAnswer };
}
export type HostService = keyof HostRequests;

export const HOST_SERVICE_SUBJECTS: Record<HostService, (host: string) => string> = { logs: logsSubject, cancel: cancelSubject };

/** The answer to a request that could not be asked (not JSON, or the conductor threw). */
export function badRequest(jobId: unknown, error: string): { ok: false; job_id: string; code: 'bad_request'; error: string } {
  return { ok: false, job_id: typeof jobId === 'string' ? jobId : '', code: 'bad_request', error };
}

/** Serves one of the host's subjects until the connection closes; `answer` asks the conductor. */
export function serveHostRequests<S extends HostService>(
  nc: NatsConnection,
  host: string,
  service: S,
  answer: (request: HostRequests[S]['request']) => Promise<HostRequests[S]['answer']>,
): Subscription {
  return nc.subscribe(HOST_SERVICE_SUBJECTS[service](host), {
    callback: (err, msg) => {
      if (err) return;
      let request: HostRequests[S]['request'];
      try {
        request = msg.json<HostRequests[S]['request']>();
      } catch {
        msg.respond(JSON.stringify(badRequest('', `the request is not JSON (${service} takes {job_id, ...} as its socket method does)`)));
        return;
      }
      void answer(request).then(
        (a) => msg.respond(JSON.stringify(a)),
        (e: Error) => msg.respond(JSON.stringify(badRequest(request?.job_id, e.message))),
      );
    },
  });
}
