/**
 * A live job's state as clients name it, read from its machine's snapshot: the one place the
 * job manager looks inside a job machine.
 */
import type { ActorRefFrom } from 'xstate';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import type { jobMachine } from './jobMachine.js';
import type { LiveJob } from './liveJob.js';

export type JobActor = ActorRefFrom<typeof jobMachine>;
export type LiveJobState = 'queued' | 'running' | 'paused' | 'pending' | 'ending';

/** undefined when the job is not live (ended or unknown); 'queued' while it has no machine yet. */
export function liveJobState(job: LiveJob | undefined, actor: JobActor | undefined): LiveJobState | undefined {
  if (!job) return undefined;
  if (job.isFinished) return 'ending';
  const snap = actor?.getSnapshot();
  if (!snap) return 'queued';
  if (snap.matches({ running: { sheet: 'paused' } })) return 'paused';
  if (snap.matches('pending')) return 'pending';
  if (snap.matches('running')) return snap.context.stop ? 'ending' : 'running';
  return snap.matches('queued') ? 'queued' : 'ending';
}

/** How the machine is stopping the job, if it is. */
export function stopKindOf(actor: JobActor | undefined): 'cancelled' | 'interrupted' | undefined {
  const stop = actor?.getSnapshot().context.stop;
  return stop ? (stop.kind === 'cancel' ? 'cancelled' : 'interrupted') : undefined;
}

/** JOB_NOT_FOUND or INVALID_STATE (naming the state) unless the job is `wanted` with a sheet. */
export function requireJobState(
  jobId: string,
  state: LiveJobState | undefined,
  hasSheet: boolean,
  exists: boolean,
  wanted: 'running' | 'paused',
  verb: string,
): void {
  if (state === wanted && hasSheet) return;
  if (state === undefined && !exists) {
    throw new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
  }
  const status = state ?? 'ended';
  throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot ${verb} job "${jobId}": it is ${status}, not ${wanted}`, { job_id: jobId, status });
}
