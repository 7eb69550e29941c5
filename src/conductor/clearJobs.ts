/**
 * `job.clear`: forget ended jobs. For each one a `job.cleared` event is committed, and the
 * projection deletes the job's row in that same transaction (projection.ts); then its log
 * directory and its cost-ledger rows are removed. Its older events stay in the log until
 * retention deletes them by age (as events of an unknown job), so seqs stay gap-free and a
 * client replaying them meets `job.cleared` at the end of the job's story.
 *
 * Queued and running jobs are never cleared: naming one is an error that says its state.
 */
import fs from 'node:fs/promises';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import type { EventStore } from '../events/store.js';
import type { JobStatus } from '../events/jobRecord.js';
import { TERMINAL_JOB_STATUSES } from '../events/jobRecord.js';
import type { MonitorStorage } from '../storage/monitorStorage.js';
import { jobDir, type ConductorPaths } from '../shared/paths.js';
import type { LogFn } from '../log/logger.js';

/** Jobs cleared by one call at most; `has_more` says to call again. */
export const CLEAR_MAX_JOBS = 10_000;
/** Ids listed in the answer at most (the count is always exact). */
export const CLEAR_LIST_MAX = 100;

export interface ClearParams {
  job_ids?: string[];
  statuses?: JobStatus[];
  older_than_seconds?: number;
}

export interface ClearDeps {
  store: EventStore;
  paths: ConductorPaths;
  storage: MonitorStorage | undefined;
  log: LogFn;
}

export async function clearJobs(deps: ClearDeps, p: ClearParams): Promise<{ cleared: number; job_ids: string[]; has_more: boolean }> {
  const { store } = deps;
  const cutoff = p.older_than_seconds === undefined ? undefined : Date.now() / 1000 - p.older_than_seconds;
  let ids: string[];
  let hasMore = false;
  if (p.job_ids) {
    // Named jobs: all or nothing, so a typo or a running job does not leave half a clear done.
    ids = [];
    for (const id of new Set(p.job_ids)) {
      const job = store.getJob(id);
      if (!job) throw new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${id}"`, { job_id: id });
      if (!TERMINAL_JOB_STATUSES.includes(job.status)) {
        throw new ProtocolError(ErrorCode.INVALID_STATE, `job "${id}" is ${job.status}: only ended jobs can be cleared (cancel it first)`, {
          job_id: id,
          status: job.status,
        });
      }
      const statusOk = !p.statuses || p.statuses.includes(job.status);
      const ageOk = cutoff === undefined || (job.ended_at ?? Infinity) < cutoff;
      if (statusOk && ageOk) ids.push(id);
    }
  } else {
    ids = store.endedJobIds({ statuses: p.statuses, endedBefore: cutoff, limit: CLEAR_MAX_JOBS + 1 });
    hasMore = ids.length > CLEAR_MAX_JOBS;
    ids = ids.slice(0, CLEAR_MAX_JOBS);
  }

  const statuses = new Map(ids.map((id) => [id, store.getJob(id)?.status]));
  await Promise.all(ids.map((id) => store.append({ type: 'job.cleared', job_id: id, data: { status: statuses.get(id), by: 'client' } })));

  // The rows are gone (committed); what is left on disk is removed after. A failure here
  // leaves files of a job nobody lists: logged, not an error for the caller.
  for (const id of ids) {
    await fs.rm(jobDir(deps.paths, id), { recursive: true, force: true }).catch((err: Error) => deps.log(`job.clear: could not remove the log of ${id}: ${err.message}`, 'warn'));
  }
  try {
    deps.storage?.deleteJobs(ids);
  } catch (err) {
    deps.log(`job.clear: could not delete ledger rows: ${(err as Error).message}`, 'warn');
  }
  return { cleared: ids.length, job_ids: ids.slice(0, CLEAR_LIST_MAX), has_more: hasMore };
}
