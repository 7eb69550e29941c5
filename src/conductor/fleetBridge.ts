/**
 * What the fleet part (src/fleet) asks of the conductor: its entry in the fleet's host table,
 * whether it has room for a job from the fleet queue, and recording such a job.
 */
import type { JobManager } from '../actors/jobManager.js';
import type { EventStore } from '../events/store.js';
import type { HostReport } from '../fleet/hostRegistry.js';
import type { FleetJobMessage, SubmitOutcome } from '../fleet/workQueue.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { validateParams } from '../ipc/schema.js';
import type { JobSpec } from '../events/jobRecord.js';
import type { ConductorConfig } from './config.js';
import type { Monitoring } from './monitoring.js';
import { VERSION } from './version.js';

/** Jobs listed per host: enough for `mzt fleet jobs`, small enough for a KV entry. */
export const FLEET_REPORT_JOBS = 50;

export function buildHostReport(deps: {
  startedAt: number;
  config: ConductorConfig;
  jobs: JobManager;
  store: EventStore;
  monitoring: Monitoring | undefined;
}): HostReport {
  const monitor = deps.monitoring?.monitor.status();
  return {
    version: VERSION,
    started_at: deps.startedAt,
    max_concurrent_jobs: deps.config.max_concurrent_jobs,
    running_jobs: deps.jobs.runningCount,
    queued_jobs: deps.jobs.queuedCount,
    paused_jobs: deps.jobs.pausedCount,
    accepting_work: monitor?.accepting_work ?? true,
    pressure_level: monitor?.pressure_level ?? 'none',
    jobs: deps.store.listJobs({ limit: FLEET_REPORT_JOBS }).jobs.map((j) => ({
      job_id: j.job_id,
      name: j.name,
      status: j.status,
      submitted_at: j.submitted_at,
      ended_at: j.ended_at ?? null,
    })),
  };
}

/** A free slot (running + queued below the limit) and a monitor that accepts work. */
export function hasRoomForFleetJob(deps: { config: ConductorConfig; jobs: JobManager; monitoring: Monitoring | undefined }): boolean {
  if (deps.jobs.runningCount + deps.jobs.queuedCount >= deps.config.max_concurrent_jobs) return false;
  return deps.monitoring?.monitor.acceptingWork().accepting ?? true;
}

/** Errors after which another try (here or elsewhere) may succeed: the message goes back to the queue. */
const RETRYABLE = new Set<number>([ErrorCode.NOT_ACCEPTING_WORK, ErrorCode.SHUTTING_DOWN, ErrorCode.STORAGE_UNAVAILABLE]);

/** Records a job from the fleet queue as job.submit would (same validation), and says how it went. */
export async function submitFleetJob(jobs: JobManager, job: FleetJobMessage['job']): Promise<SubmitOutcome> {
  const checked = validateParams('job.submit', job);
  if (!checked.ok) return { kind: 'reject', reason: checked.message };
  try {
    await jobs.submit(checked.value as JobSpec);
    return { kind: 'recorded' };
  } catch (err) {
    if (err instanceof ProtocolError) {
      if (err.code === ErrorCode.JOB_EXISTS) return { kind: 'exists' };
      if (RETRYABLE.has(err.code)) return { kind: 'retry', reason: err.message };
      return { kind: 'reject', reason: err.message };
    }
    return { kind: 'retry', reason: (err as Error).message };
  }
}
