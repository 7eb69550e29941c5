/**
 * `mzt fleet submit --wait`: follows a job put on the fleet's work queue to its end, on
 * whichever host took it, as `mzt submit --wait` does for a local job.
 * - The host is the one whose `job.submitted` for this id appears in the fleet event stream
 *   (read from the stream's head before the submit, so only this submission's events count).
 * - The output is paged from that host's log service (FleetClient.logs), as `mzt fleet logs --all`.
 * - The end and the exit code come from folding the job's events with the conductor's own
 *   projection, so the record is the one `job.get` on that host would give.
 * Ctrl-C cancels the job wherever it runs, as `mzt fleet cancel` does, and waits for its end as
 * `mzt submit --wait` does (Ctrl-C again: stop waiting); a job still on the queue stays there.
 * A host that refuses the job (its fleet.job_rejected event) ends the wait with the host's reason.
 * Every wait is bounded by something that can be seen: the claim by --claim-timeout, the rest
 * by the NATS connection and by the host staying in the host table.
 */
import type { FleetClient } from '../fleet/client.js';
import type { JobRecord } from '../events/jobRecord.js';
import { applyJobEvent, isTerminalStatus } from '../events/projection.js';
import { jobOutput } from './follow.js';
import { printJson } from './output.js';
import { exitCodeOf } from './submit.js';
import { describeFleetCancel, FLEET_CANCEL_TIMEOUT_SECONDS } from './fleetCancel.js';

const LOG_POLL_MS = 250;
/** How often the host table is read to notice a host that left while its job ran. */
const HOST_CHECK_MS = 5000;
/** A host that does not answer log requests this long is given up on. */
const HOST_SILENT_MS = 30_000;
/** Once the host's log says the job ended, how long its last events may take to be exported. */
const END_EVENTS_GRACE_MS = 30_000;

export interface FleetWaitOptions {
  quiet?: boolean;
  json?: boolean;
  claimTimeoutSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `promise`, or a rejection with `message` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Writes the job's output here (stdout to stdout, stderr to stderr) until the host says it
 * ended; `abandoned()`: the wait failed elsewhere, stop asking (a pending retry would keep mzt alive).
 */
async function pumpLogs(client: FleetClient, jobId: string, host: string, endedByEvents: () => boolean, abandoned: () => boolean): Promise<void> {
  let offset = 0;
  let silentSince: number | undefined;
  while (!abandoned()) {
    let page: Awaited<ReturnType<FleetClient['logs']>>;
    try {
      page = await client.logs({ job_id: jobId, offset }, host);
      silentSince = undefined;
    } catch (err) {
      // A reconnect or a busy host is not the end: only a silence this long is.
      silentSince ??= Date.now();
      if (Date.now() - silentSince > HOST_SILENT_MS) {
        throw new Error(`host ${host} has not answered for job ${jobId}'s output for ${HOST_SILENT_MS / 1000} s: ${(err as Error).message}`);
      }
      await sleep(1000);
      continue;
    }
    const { out, err } = jobOutput(page.lines);
    if (out && !process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    if (err) process.stderr.write(err);
    const drained = page.next_offset >= page.size;
    offset = page.next_offset;
    if (drained && (isTerminalStatus(page.status as JobRecord['status']) || endedByEvents())) return;
    if (drained) await sleep(LOG_POLL_MS);
  }
}

/** Rejects once `host` is gone from the host table (its entry expired: no heartbeats). */
async function hostLeaves(client: FleetClient, host: string, jobId: string, stop: () => boolean): Promise<never> {
  while (!stop()) {
    // Unreferenced: this check alone must not keep mzt from exiting once the wait is over.
    await new Promise((r) => setTimeout(r, HOST_CHECK_MS).unref());
    const live = await client.hosts().catch(() => undefined);
    if (live && !live.some((h) => h.host === host)) {
      throw new Error(`host ${host} left the fleet (no heartbeat) before job ${jobId} ended; its conductor may have stopped, so how the job ended is unknown`);
    }
  }
  return new Promise<never>(() => undefined);
}

/**
 * Waits for `jobId`, submitted after stream seq `headSeq`, to end; resolves with the exit code
 * `mzt submit --wait` would give for it.
 */
export async function waitForFleetJob(client: FleetClient, jobId: string, headSeq: number, opts: FleetWaitOptions): Promise<number> {
  let host: string | undefined;
  let record: JobRecord | undefined;
  let finished = false;
  let onClaim!: (host: string) => void;
  let onEnd!: (record: JobRecord) => void;
  const claimed = new Promise<string>((r) => (onClaim = r));
  const ended = new Promise<JobRecord>((r) => (onEnd = r));

  const events = client.events({ since: headSeq + 1, follow: true });
  const reading = (async (): Promise<never> => {
    for await (const { host: from, event } of events) {
      // A host that refused the job took it off the queue for good: waiting for a claim is pointless.
      if (host === undefined && event.type === 'fleet.job_rejected') {
        const refusal = event.data as { job_id?: string; reason: string };
        if (refusal.job_id === jobId) throw new Error(`host ${from} refused job ${jobId}: ${refusal.reason}; it is off the fleet's queue`);
      }
      if (event.job_id !== jobId) continue;
      if (host === undefined) {
        if (event.type !== 'job.submitted') continue;
        host = from;
        onClaim(from);
      }
      if (from !== host) continue; // the same id on another host is another job
      record = applyJobEvent(record, event);
      if (record && isTerminalStatus(record.status)) onEnd(record);
    }
    throw new Error(`the fleet event stream ended before job ${jobId} did`);
  })();
  const lost = client.closed().then((err) => {
    throw new Error(`lost the fleet's NATS server${err ? ` (${err.message})` : ''} while waiting for job ${jobId}${host ? `; it keeps running on host ${host}` : ''}`);
  });
  // Either settles only as a failure; whichever comes first ends the wait.
  const failed = Promise.race([reading, lost]);
  failed.catch(() => undefined);

  let signals = 0;
  const stopWaiting = (why: string): never => {
    process.stderr.write(`mzt: stopped waiting; ${why}\n`);
    process.exit(130);
  };
  const onSignal = () => {
    signals += 1;
    if (signals > 1) stopWaiting(`job ${jobId} is being cancelled${host ? ` on host ${host}` : ''}`);
    process.stderr.write(`mzt: cancelling job ${jobId}${host ? ` on host ${host}` : ''} (Ctrl-C again to stop waiting)\n`);
    // Not yet seen taken: the cancel looks for it on every host, then on the queue.
    client.cancel({ job_id: jobId, reason: 'cancelled by mzt fleet submit --wait (signal)' }, { host, timeoutMs: FLEET_CANCEL_TIMEOUT_SECONDS * 1000 }).then(
      (result) => {
        // Cancelled: its end comes through the stream as any end does, and the wait reports it.
        if (result.outcome === 'cancelled' || result.outcome === 'ended') return;
        stopWaiting(describeFleetCancel(result).line);
      },
      (err: Error) => process.stderr.write(`mzt: could not cancel ${jobId}: ${err.message}${host ? `; it keeps running on host ${host}` : ''}\n`),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const n = opts.claimTimeoutSeconds;
    const taker = await within(
      Promise.race([claimed, failed]),
      n * 1000,
      `job ${jobId} was not taken by any host within ${n} s (--claim-timeout); it stays in the fleet's queue (mzt fleet jobs shows it once a host takes it)`,
    );
    if (!opts.json) (opts.quiet ? process.stdout : process.stderr).write(`${jobId} taken by host ${taker}\n`);
    const watched = Promise.race([failed, hostLeaves(client, taker, jobId, () => finished)]);
    watched.catch(() => undefined);
    if (!opts.quiet && !opts.json) {
      await Promise.race([pumpLogs(client, jobId, taker, () => record !== undefined && isTerminalStatus(record.status), () => finished), watched]);
      await within(Promise.race([ended, watched]), END_EVENTS_GRACE_MS, `host ${taker} says job ${jobId} ended, but its last events did not reach the fleet's stream within ${END_EVENTS_GRACE_MS / 1000} s (see mzt conductor status there: export)`);
    }
    const job = await Promise.race([ended, watched]);
    const code = exitCodeOf(job);
    const why = `${job.status}${job.reason ? ` (${job.reason})` : ''}`;
    if (opts.json) printJson({ host: taker, ...job });
    else if (opts.quiet) process.stdout.write(`${jobId} ${why}\n`);
    else if (code !== 0) process.stderr.write(`mzt: job ${jobId} ${why} on host ${taker}\n`);
    return code;
  } finally {
    finished = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
