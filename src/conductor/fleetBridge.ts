/**
 * What the fleet part (src/fleet) asks of the conductor: its entry in the fleet's host table,
 * whether it has room for a job from the fleet queue, recording such a job, and answering
 * other machines about its jobs (logs, cancel).
 */
import type { JobManager } from '../actors/jobManager.js';
import type { EventStore } from '../events/store.js';
import type { HostReport } from '../fleet/hostRegistry.js';
import type { FleetJobMessage, SubmitOutcome } from '../fleet/workQueue.js';
import { badRequest, type FleetCancelAnswer, type FleetCancelRequest, type FleetLogAnswer, type FleetLogRequest } from '../fleet/hostServices.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { validateParams } from '../ipc/schema.js';
import type { JobSpec } from '../events/jobRecord.js';
import { isTerminalStatus } from '../events/projection.js';
import { FLEET_LOG_ANSWER_BYTES } from '../fleet/fleetWorkerProtocol.js';
import { jobLogExists, readJobLogFrom, readJobLogTail } from '../actors/jobLogRead.js';
import { jobDir, type ConductorPaths } from '../shared/paths.js';
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
    head_seq: deps.store.headSeq,
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


/**
 * A job's log for `mzt fleet logs` (fleet/hostServices.ts): as job.logs reads it, in answers that
 * fit a NATS message. The request is checked against job.logs' published params, so both paths
 * accept and refuse the same values with the same messages.
 */
export function fleetJobLogs(store: EventStore, paths: ConductorPaths, request: FleetLogRequest): FleetLogAnswer {
  const checked = validateParams('job.logs', request);
  if (!checked.ok) return badRequest((request as Partial<FleetLogRequest> | null)?.job_id, checked.message);
  const { job_id: id, offset, tail_lines, max_bytes } = checked.value as { job_id: string; offset?: number; tail_lines: number; max_bytes: number };
  const record = store.getJob(id);
  if (!record) return { ok: false, job_id: id, code: 'not_found', error: `no job "${id}" on this host` };
  const dir = jobDir(paths, id);
  if (!jobLogExists(dir)) return { ok: true, job_id: id, status: record.status, lines: [], size: 0, next_offset: 0, truncated: false };
  const part = offset === undefined ? readJobLogTail(dir, tail_lines) : readJobLogFrom(dir, offset, Math.min(max_bytes, FLEET_LOG_ANSWER_BYTES / 4));
  // Keep whole lines within the answer's bytes (the compact log renders to several times its
  // size): a tail keeps its newest lines, a forward read its first ones.
  const fit = (n: number, byteCount: number) => byteCount + Buffer.byteLength(part.lines[n]!) + 4 <= FLEET_LOG_ANSWER_BYTES;
  let lines = part.lines;
  let nextOffset = part.next_offset;
  let truncated = part.truncated;
  let bytes = 0;
  if (offset === undefined) {
    let first = lines.length;
    while (first > 0 && fit(first - 1, bytes)) bytes += Buffer.byteLength(lines[--first]!) + 4;
    if (first > 0) [lines, truncated] = [lines.slice(first), true];
  } else {
    let count = 0;
    while (count < lines.length && fit(count, bytes)) bytes += Buffer.byteLength(lines[count++]!) + 4;
    if (count < lines.length) [lines, nextOffset, truncated] = [lines.slice(0, count), count > 0 ? part.ends[count - 1]! : offset, true];
  }
  return { ok: true, job_id: id, status: record.status, lines, size: part.size, next_offset: nextOffset, truncated };
}

/**
 * `mzt fleet cancel` (fleet/hostServices.ts): the job cancelled as job.cancel does, its request
 * checked against job.cancel's params. Resolves once the job has ended, as job.cancel does.
 */
export async function fleetJobCancel(jobs: JobManager, store: EventStore, request: FleetCancelRequest): Promise<FleetCancelAnswer> {
  const checked = validateParams('job.cancel', request);
  if (!checked.ok) return badRequest((request as Partial<FleetCancelRequest> | null)?.job_id, checked.message);
  const { job_id: id, reason } = checked.value as FleetCancelRequest;
  const ended = () => {
    const record = store.getJob(id);
    if (!record) return { ok: false as const, job_id: id, code: 'not_found' as const, error: `no job "${id}" on this host` };
    return isTerminalStatus(record.status) ? { ok: false as const, job_id: id, code: 'ended' as const, status: record.status, error: `job "${id}" has already ended (${record.status})` } : undefined;
  };
  const before = ended();
  if (before) return before;
  try {
    await jobs.cancel(id, { reason: reason ?? 'cancelled through the fleet', by: 'client' });
    return { ok: true, job_id: id, status: 'cancelled' };
  } catch (err) {
    // It ended on its own between the look and the cancel: say how.
    if (err instanceof ProtocolError && err.code === ErrorCode.INVALID_STATE) return ended() ?? { ok: false, job_id: id, code: 'failed', error: err.message };
    return { ok: false, job_id: id, code: 'failed', error: (err as Error).message };
  }
}
