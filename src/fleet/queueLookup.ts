/**
 * Where a job put on the fleet's work queue is, read from NATS alone (`mzt fleet cancel`):
 * the host that claimed it (the `mzt_fleet_jobs` bucket, workQueue.ts), or its message still
 * waiting on the queue, not taken by any host.
 */
import { Kvm } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JOBS_BUCKET, WORK_STREAM, type Claim } from './workQueue.js';

/** Queue messages looked at, newest first: a queue this long is far past what a fleet holds waiting. */
const QUEUE_SCAN_LIMIT = 1000;
/** How long the claim lookup may take before the hosts are asked without it. */
const CLAIM_LOOKUP_MS = 5000;

/** The host whose claim on the job id the bucket holds, or undefined (never taken, or no bucket yet). */
export async function claimedBy(nc: NatsConnection, jobId: string): Promise<string | undefined> {
  const lookup = async () => {
    const claims = await new Kvm(nc).open(JOBS_BUCKET);
    const entry = await claims.get(jobId);
    return entry && entry.operation === 'PUT' ? entry.json<Claim>().host : undefined;
  };
  // Bounded: the hosts are asked anyway, the claim only puts its host first.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CLAIM_LOOKUP_MS)));
  try {
    return await Promise.race([lookup(), late]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The subject of the job's message while it waits on the queue (its message id is the job id),
 * or undefined. A taken job's message is gone once its host acknowledged it.
 */
export async function queuedSubject(jsm: JetStreamManager, jobId: string): Promise<string | undefined> {
  const info = await jsm.streams.info(WORK_STREAM).catch(() => undefined);
  if (!info || info.state.messages === 0) return undefined;
  const first = Math.max(info.state.first_seq, info.state.last_seq - QUEUE_SCAN_LIMIT + 1);
  for (let seq = info.state.last_seq; seq >= first; seq--) {
    // A work queue deletes what was acknowledged: gaps are normal.
    const message = await jsm.streams.getMessage(WORK_STREAM, { seq }).catch(() => null);
    if (message?.header?.get('Nats-Msg-Id') === jobId) return message.subject;
  }
  return undefined;
}
