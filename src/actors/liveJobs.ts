/**
 * The job manager's table of live jobs (machine running, or end being recorded), and the
 * counts the resource monitor and status read from it.
 */
import type { JobLimits } from '../events/jobRecord.js';
import type { LiveJob } from './liveJob.js';

export interface ActiveProcess {
  job_id: string;
  sheet_num: number;
  pid: number;
  pgid: number;
}

export class LiveJobs extends Map<string, LiveJob> {
  /** Jobs with a sheet running now. */
  get activeSheets(): number {
    let n = 0;
    for (const job of this.values()) if (job.sheet) n++;
    return n;
  }

  activeProcesses(): ActiveProcess[] {
    const out: ActiveProcess[] = [];
    for (const [job_id, job] of this) {
      const pid = job.sheet?.handle.pid;
      if (job.sheet && pid !== undefined) out.push({ job_id, sheet_num: job.sheet.num, pid, pgid: pid });
    }
    return out;
  }

  /** The limits of every live job that has some (the resource monitor enforces them). */
  jobLimits(): Map<string, JobLimits> {
    const out = new Map<string, JobLimits>();
    for (const [jobId, job] of this) if (job.spec.limits) out.set(jobId, job.spec.limits);
    return out;
  }
}
