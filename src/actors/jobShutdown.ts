/**
 * The job manager's two ways to stop: interrupt every job (the default), or with live_restore
 * let running sheets go on for the next conductor. Both wait until what can be recorded is.
 */
import type { ActorRefFrom } from 'xstate';
import { escalationsDone } from './escalations.js';
import type { JobEventWriter } from './jobEventWriter.js';
import type { jobManagerMachine } from './jobManagerMachine.js';
import type { JobActor, LiveJobState } from './jobStates.js';
import type { LiveJob } from './liveJob.js';
import type { LiveJobs } from './liveJobs.js';
import type { LiveSheetHandle } from './liveRestore/liveSheet.js';

export interface ShutdownParts {
  manager: ActorRefFrom<typeof jobManagerMachine>;
  live: LiveJobs;
  events: JobEventWriter;
  /** How long to wait for events the store refuses before giving up on them. */
  drainMs: number;
  stateOf(jobId: string): LiveJobState | undefined;
  log(message: string): void;
}

/** Interrupt every job (running ones are stopped), and wait until all are recorded. */
export async function interruptAll(parts: ShutdownParts): Promise<void> {
  const { manager, live, events } = parts;
  const finished = [...live.values()].map((j) => j.finished);
  const ended = [...live.values()].map((j) => j.ended);
  manager.send({ type: 'SHUTDOWN', reason: 'conductor_shutdown' });
  await Promise.all(finished);
  // Events the store still refuses are lost with this process: the jobs stay `running` in
  // the log, and the next start closes them as interrupted (conductor_restarted).
  if (await events.drain(parts.drainMs)) {
    await Promise.all(ended); // their logs closed too
  } else {
    parts.log(`stopping with job events the store refused (the next start closes these jobs as interrupted): ${events.describeUnrecorded().join('; ')}`);
  }
  events.stop();
  // Sheets end with their main process; what ignored SIGTERM gets its SIGKILL before we go.
  await escalationsDone();
  manager.stop();
}

/**
 * live_restore's shutdown: running sheets are let go of (they and their waiters run on, the
 * next conductor re-adopts them); queued and pending jobs, and sheets not run by a waiter, are
 * interrupted as without it.
 */
export async function detachAll(parts: ShutdownParts & { detach(jobId: string): void; stopHeartbeat(): void }): Promise<void> {
  const { manager, live, events } = parts;
  manager.send({ type: 'SET_MAX_CONCURRENT', max: 0 }); // nothing new starts meanwhile
  const children = manager.getSnapshot().children as Record<string, JobActor | undefined>;
  const left: LiveJob[] = [];
  const stopped: LiveJob[] = [];
  // Queued ones first: an interrupted running job must not free a slot for them.
  const order = [...live.entries()].sort(([a], [b]) => Number(parts.stateOf(b) === 'queued') - Number(parts.stateOf(a) === 'queued'));
  for (const [jobId, job] of order) {
    if (job.isFinished) continue;
    const handle = job.sheet?.handle as Partial<LiveSheetHandle> | undefined;
    const between = !job.sheet && parts.stateOf(jobId) === 'running';
    if (handle?.detach || between) {
      parts.detach(jobId);
      left.push(job);
      if (handle?.detach) await handle.detach();
    } else {
      stopped.push(job);
      children[jobId]?.send({ type: 'INTERRUPT', reason: 'conductor_shutdown' });
    }
  }
  parts.stopHeartbeat();
  await Promise.all(stopped.map((j) => j.finished));
  if (await events.drain(parts.drainMs)) await Promise.all(stopped.map((j) => j.ended));
  await Promise.all(left.map((j) => j.log.close()));
  events.stop();
  await escalationsDone();
  manager.stop();
  if (left.length > 0) parts.log(`live_restore: left ${left.length} job(s) running for the next conductor`);
}
