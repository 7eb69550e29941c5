/**
 * `mzt fleet logs`: a conductor answers requests for its jobs' logs on `mzt.<host>.logs`
 * (NATS request/reply). The worker only relays: the conductor reads the log as job.logs does,
 * in answers that fit one NATS message.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';


export const logsSubject = (host: string) => `mzt.${host}.logs`;

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


/** Serves the host's log subject until the connection closes; `answer` asks the conductor. */
export function serveLogs(nc: NatsConnection, host: string, answer: (request: FleetLogRequest) => Promise<FleetLogAnswer>): Subscription {
  return nc.subscribe(logsSubject(host), {
    callback: (err, msg) => {
      if (err) return;
      let request: FleetLogRequest;
      try {
        request = msg.json<FleetLogRequest>();
      } catch {
        msg.respond(JSON.stringify({ ok: false, job_id: '', code: 'bad_request', error: 'the request is not JSON {job_id, offset?, tail_lines?}' } satisfies FleetLogAnswer));
        return;
      }
      void answer(request).then(
        (a) => msg.respond(JSON.stringify(a)),
        (e: Error) => msg.respond(JSON.stringify({ ok: false, job_id: String(request?.job_id), code: 'bad_request', error: e.message } satisfies FleetLogAnswer)),
      );
    },
  });
}
