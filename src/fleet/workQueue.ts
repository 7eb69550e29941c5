/**
 * Jobs for the whole fleet: a JetStream work queue (`MZT_WORK`) that every conductor pulls
 * from only while it has room, so work goes where there is room; `--host` pins a job to one
 * conductor's own subject.
 *
 * At-least-once delivery, one run per job id:
 * - a message is acknowledged only once the job is durably recorded by the conductor that
 *   took it; one killed between pull and record leaves it to be delivered again;
 * - before recording, the taker claims the job id in the `mzt_fleet_jobs` KV bucket (create:
 *   one winner), and marks it recorded after. Another conductor given the message again sees
 *   the claim: recorded → it only acknowledges; claimed by a live taker → it hands the message
 *   back; claimed longer ago than CLAIM_STALE_MS (the taker died before recording) → it takes
 *   the claim over by compare-and-set and runs the job.
 */
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import { AckPolicy, RetentionPolicy, DiscardPolicy, type Consumer, type JsMsg } from '@nats-io/jetstream';
import type { JobSpec } from '../events/jobRecord.js';
import { ensureStream, type FleetLink } from './connection.js';

export const WORK_STREAM = 'MZT_WORK';
export const WORK_ANY_SUBJECT = 'mzt_work.any';
export const workHostSubject = (host: string) => `mzt_work.host.${host}`;
export const JOBS_BUCKET = 'mzt_fleet_jobs';
/** Jobs waiting in the queue at most; a submit beyond it is refused by the server. */
export const WORK_QUEUE_MAX_JOBS = 100_000;
/** Largest job message (a job spec with its sheets and environment). */
export const WORK_MAX_MESSAGE_BYTES = 256 * 1024;
/**
 * How long a taken message may stay unacknowledged before JetStream gives it out again, and
 * how old an unrecorded claim must be before another conductor takes it over. Tests shorten
 * them with MZT_FLEET_ACK_WAIT_MS (set on a fresh NATS server: the consumers keep the value
 * they were created with).
 */
const ACK_WAIT_MS = Number(process.env.MZT_FLEET_ACK_WAIT_MS) || 30_000;
const CLAIM_STALE_MS = 2 * ACK_WAIT_MS;
/** Tests only: a pause between claiming a job and recording it, to kill a conductor there. */
const HOLD_AFTER_CLAIM_MS = Number(process.env.MZT_TEST_FLEET_HOLD_AFTER_CLAIM_MS) || 0;
const HAND_BACK_MS = 2000;
/** How long one pull waits for a job (the shortest the client allows is 1 s). */
const PULL_WAIT_MS = 2000;

export interface FleetJobMessage {
  v: 1;
  job: JobSpec & { job_id: string };
  submitted_at: number;
  /** Who put it on the queue, e.g. `mzt@buildbox`. */
  submitted_from: string;
}

export const WORK_STREAM_CONFIG = {
  name: WORK_STREAM,
  subjects: [WORK_ANY_SUBJECT, 'mzt_work.host.*'],
  retention: RetentionPolicy.Workqueue,
  max_msgs: WORK_QUEUE_MAX_JOBS,
  max_msg_size: WORK_MAX_MESSAGE_BYTES,
  discard: DiscardPolicy.New,
  duplicate_window: 10 * 60 * 1e9,
};

/** Creates the work stream if it is not there (any submitter or conductor may be first). */
export async function ensureWorkStream(link: FleetLink): Promise<void> {
  await ensureStream(link.jsm, WORK_STREAM_CONFIG);
}

/** What recording a job locally came to. */
export type SubmitOutcome = { kind: 'recorded' } | { kind: 'exists' } | { kind: 'retry'; reason: string } | { kind: 'reject'; reason: string };

export interface Claim {
  host: string;
  state: 'claimed' | 'recorded' | 'rejected';
  at: number;
}

export class WorkPuller {
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly options: {
      host: string;
      /** Whether this conductor has room for one more job now. */
      hasRoom(): boolean;
      /** Records the job durably in this conductor (job.submit). */
      submit(job: FleetJobMessage['job']): Promise<SubmitOutcome>;
      /** A message that is no job: said once, with why. */
      rejected(reason: string, detail: { job_id?: string; subject: string; bytes: number }): void;
      log(message: string): void;
    },
  ) {}

  start(link: FleetLink): void {
    this.running ??= this.run(link);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(link: FleetLink): Promise<void> {
    let retryMs = 250;
    while (!this.stopped) {
      try {
        await ensureWorkStream(link);
        const claims = await new Kvm(link.nc).create(JOBS_BUCKET, { ttl: 7 * 86400 * 1000, history: 1 });
        const consumers = [];
        for (const [durable, subject] of [
          [`host_${this.options.host}`, workHostSubject(this.options.host)],
          ['any', WORK_ANY_SUBJECT],
        ] as const) {
          await link.jsm.consumers.add(WORK_STREAM, { durable_name: durable, filter_subject: subject, ack_policy: AckPolicy.Explicit, ack_wait: ACK_WAIT_MS * 1e6 });
          consumers.push(await link.js.consumers.get(WORK_STREAM, durable));
        }
        retryMs = 250;
        // One loop per queue, so a job on either starts at once (pulls in turn would add an idle
        // pull's whole wait to the other's latency).
        // A loop that fails stops the other, and the whole set starts again.
        let broken: unknown;
        await Promise.all(consumers.map((c) => this.pullLoop(c, claims, () => broken !== undefined).catch((err: unknown) => (broken ??= err))));
        if (broken !== undefined) throw broken;
      } catch (err) {
        if (this.stopped) return;
        this.options.log(`fleet work queue: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, 5000);
      }
    }
  }

  /** Pulls one message at a time, only while the conductor has room; a message that finds it full goes back at once. */
  private async pullLoop(consumer: Consumer, claims: KV, halted: () => boolean): Promise<void> {
    while (!this.stopped && !halted()) {
      if (!this.options.hasRoom()) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const msg = await consumer.next({ expires: PULL_WAIT_MS });
      if (!msg) continue;
      if (this.stopped || !this.options.hasRoom()) msg.nak();
      else await this.handle(msg, claims);
    }
  }

  private async handle(msg: JsMsg, claims: KV): Promise<void> {
    const job = this.parse(msg);
    if (!job) return;
    const id = job.job_id;
    const claim = await claims.get(id);
    const me = this.options.host;
    if (!claim || claim.operation !== 'PUT') {
      const won = await claims.create(id, JSON.stringify({ host: me, state: 'claimed', at: Date.now() } satisfies Claim)).then(
        () => true,
        () => false,
      );
      if (!won) return msg.nak(HAND_BACK_MS); // another conductor claimed it just now: look again later
    } else {
      const held = claim.json<Claim>();
      if (held.state !== 'claimed') return msg.ack(); // recorded (or refused) already, by whoever took it
      if (held.host !== me) {
        if (Date.now() - held.at < CLAIM_STALE_MS) return msg.nak(HAND_BACK_MS);
        const taken = await claims.update(id, JSON.stringify({ host: me, state: 'claimed', at: Date.now() } satisfies Claim), claim.revision).then(
          () => true,
          () => false,
        );
        if (!taken) return msg.nak(HAND_BACK_MS);
        this.options.log(`fleet: job ${id} was claimed by ${held.host}, which did not record it: taken over`);
      }
    }
    if (HOLD_AFTER_CLAIM_MS > 0) {
      this.options.log(`fleet: holding job ${id} ${HOLD_AFTER_CLAIM_MS} ms after its claim (MZT_TEST_FLEET_HOLD_AFTER_CLAIM_MS)`);
      await new Promise((r) => setTimeout(r, HOLD_AFTER_CLAIM_MS));
    }
    const outcome = await this.options.submit(job);
    if (outcome.kind === 'retry') {
      await claims.delete(id).catch(() => undefined);
      return msg.nak(HAND_BACK_MS);
    }
    const state = outcome.kind === 'reject' ? 'rejected' : 'recorded';
    await claims.put(id, JSON.stringify({ host: me, state, at: Date.now() } satisfies Claim)).catch(() => undefined);
    if (outcome.kind === 'reject') {
      this.options.rejected(outcome.reason, { job_id: id, subject: msg.subject, bytes: msg.data.length });
      return msg.term();
    }
    msg.ack();
  }

  /** The job in a message, or undefined after terminating a message that holds none. */
  private parse(msg: JsMsg): FleetJobMessage['job'] | undefined {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(msg.data));
    } catch (err) {
      this.options.rejected(`not JSON: ${(err as Error).message}`, { subject: msg.subject, bytes: msg.data.length });
      msg.term();
      return undefined;
    }
    const m = value as Partial<FleetJobMessage>;
    if (typeof m !== 'object' || m === null || m.v !== 1 || typeof m.job !== 'object' || m.job === null || typeof m.job.job_id !== 'string') {
      this.options.rejected('not a fleet job message: expected {"v": 1, "job": {"job_id": ..., "sheets": [...]}, ...}', { subject: msg.subject, bytes: msg.data.length });
      msg.term();
      return undefined;
    }
    return m.job as FleetJobMessage['job'];
  }
}
