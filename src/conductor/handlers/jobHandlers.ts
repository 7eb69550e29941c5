/**
 * The job methods: submit, control (cancel, pause, resume, retry), read (get, list, logs,
 * trace) and clear. Each checks what the job manager cannot know from the request alone
 * (the job exists, it has not ended) and leaves the doing to it.
 */
import path from 'node:path';
import { ErrorCode, ProtocolError } from '../../ipc/messages.js';
import type { Handlers } from '../../ipc/methodTable.js';
import { TERMINAL_JOB_STATUSES, type JobRecord, type JobStatus } from '../../events/jobRecord.js';
import { HEAD_FILE } from '../../actors/jobLog.js';
import { jobLogExists, readJobLogFrom, readJobLogTail } from '../../actors/jobLogRead.js';
import { planRetry } from '../../actors/jobRetry.js';
import { recordCost } from '../../monitor/jobCostRecord.js';
import { jobDir } from '../../shared/paths.js';
import { clearJobs } from '../clearJobs.js';
import { notFound, refuseWhileStopping, type MethodDeps } from './methodDeps.js';

type JobMethod = 'job.submit' | 'job.cancel' | 'job.pause' | 'job.resume' | 'job.retry' | 'job.get' | 'job.list' | 'job.trace' | 'job.clear' | 'job.logs';

export function jobHandlers(deps: MethodDeps): Pick<Handlers, JobMethod> {
  const { store, jobs } = deps;
  const existing = (jobId: string): JobRecord => {
    const record = store.getJob(jobId);
    if (!record) throw notFound(jobId);
    return record;
  };
  /** The record of a job that has not ended; `refusal` says why an ended one cannot be acted on. */
  const unended = (jobId: string, refusal: (status: JobStatus) => string): JobRecord => {
    const record = existing(jobId);
    if (TERMINAL_JOB_STATUSES.includes(record.status)) {
      throw new ProtocolError(ErrorCode.INVALID_STATE, refusal(record.status), { job_id: jobId, status: record.status });
    }
    return record;
  };
  const submittedEvent = (jobId: string) => store.read(0, 1, { job_id: jobId, types: ['job.submitted'] })[0];
  // A record with its cost: live figures from the latest snapshot, or the ledger's final ones.
  const withCost = (record: JobRecord) => {
    const m = deps.monitoring();
    const cost = recordCost(record, { snapshot: m?.profiler.latest(), ledger: (id) => m?.storage.jobCosts(id) ?? [] });
    return { ...record, cost };
  };

  return {
    'job.submit': async (p) => {
      refuseWhileStopping(deps);
      const result = await jobs.submit(p);
      // The seq of job.submitted: `subscribe({since: seq - 1, job_id})` sees the whole job.
      return { ...result, seq: submittedEvent(result.job_id)?.seq ?? store.headSeq };
    },

    'job.cancel': async (p) => {
      unended(p.job_id, (status) => `job "${p.job_id}" has already ended (${status})`);
      return jobs.cancel(p.job_id, { reason: p.reason ?? 'cancelled by client', by: 'client' });
    },

    // Pause/resume: SIGSTOP/SIGCONT of the sheet's tree; a job in any other state is INVALID_STATE.
    'job.pause': (p) => {
      unended(p.job_id, (status) => `cannot pause job "${p.job_id}": it is ${status}`);
      return jobs.pause(p.job_id, 'client');
    },

    'job.resume': (p) => {
      unended(p.job_id, (status) => `cannot resume job "${p.job_id}": it is ${status}`);
      return jobs.resume(p.job_id, 'client');
    },

    // Run an ended job again under its id, from its first unfinished sheet (jobRetry.ts).
    'job.retry': (p) => {
      refuseWhileStopping(deps);
      const record = existing(p.job_id);
      return jobs.retry(p.job_id, planRetry(record, p.from_sheet, jobDir(deps.paths, p.job_id), () => submittedEvent(p.job_id)));
    },

    'job.get': (p) => withCost(existing(p.job_id)),

    'job.list': (p) => {
      const list = store.listJobs({ statuses: p.status, limit: p.limit });
      return { ...list, jobs: list.jobs.map(withCost) };
    },

    'job.trace': (p) => {
      refuseWhileStopping(deps);
      if (!deps.tracer) throw new ProtocolError(ErrorCode.NOT_AVAILABLE, 'syscall tracing is not available in this conductor');
      return deps.tracer.trace(p.job_id, p.seconds);
    },

    'job.clear': (p) => clearJobs({ store, paths: deps.paths, storage: deps.monitoring()?.storage, log: (line, level) => deps.log?.(line, level) }, p),

    'job.logs': (p) => {
      const { status } = existing(p.job_id);
      const dir = jobDir(deps.paths, p.job_id);
      const file = path.join(dir, HEAD_FILE);
      if (!jobLogExists(dir)) {
        return { job_id: p.job_id, path: file, size: 0, next_offset: 0, lines: [], truncated: false, status };
      }
      const { ends: _ends, ...part } = p.offset === undefined ? readJobLogTail(dir, p.tail_lines) : readJobLogFrom(dir, p.offset, p.max_bytes);
      return { job_id: p.job_id, path: file, status, ...part };
    },
  };
}
