/**
 * The job model: what a client submits (JobSpec) and what the projection of the event log
 * says about a job (JobRecord). Sheets are numbered from 1, as in Marianne.
 */

export interface SheetSpec {
  /** Program and arguments; argv[0] is looked up on PATH. No shell is involved. */
  argv: string[];
  /** Working directory; defaults to the job's cwd, then to the conductor's. */
  cwd?: string;
  /** Extra environment variables, merged over the conductor's environment. */
  env?: Record<string, string>;
  /** Wall-clock limit; on expiry the sheet's process group gets SIGTERM, then SIGKILL. */
  timeout_seconds?: number;
  name?: string;
}

export interface JobSpec {
  /** Optional caller-chosen id, `[A-Za-z0-9_.-]{1,64}`; generated when absent. */
  job_id?: string;
  name?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Free-form string labels, recorded in job.submitted and the JobRecord. */
  labels?: Record<string, string>;
  /** This job's own resource limits (monitor/jobLimits.ts); absent = none. */
  limits?: JobLimits;
  sheets: SheetSpec[];
}

/** Per-job limits, checked against the job's cost figures at every sample. */
export interface JobLimits {
  /** Sum of the tree's RSS. */
  memory_mb?: number;
  /** Live processes of the tree. */
  processes?: number;
}

/** The git work tree of a job's cwd (src/conductor/gitContext.ts). */
export interface GitContext {
  sha: string | null;
  /** Null when HEAD is detached. */
  branch: string | null;
  dirty: boolean;
}

/** Label keys: what a selector or a column can show without quoting. */
export const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,128}$/;

export type JobStatus = 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled', 'interrupted'];
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'paused'];

export type SheetStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'failed'
  | 'timed_out'
  | 'cancelled'
  | 'interrupted'
  | 'skipped';

export interface SheetRecord {
  sheet_num: number;
  name?: string;
  argv: string[];
  cwd?: string;
  timeout_seconds?: number;
  status: SheetStatus;
  pid?: number;
  exit_code?: number | null;
  signal?: string | null;
  started_at?: number;
  ended_at?: number;
  duration_seconds?: number;
}

export interface JobRecord {
  job_id: string;
  name: string;
  status: JobStatus;
  submitted_at: number;
  started_at?: number;
  ended_at?: number;
  total_sheets: number;
  /** The sheet running now, or the last one that ran. */
  current_sheet?: number;
  completed_sheets: number;
  sheets: SheetRecord[];
  /** Why the job failed, was cancelled or interrupted. */
  reason?: string;
  /** Seq of the last event applied to this record. */
  last_seq: number;
  labels?: Record<string, string>;
  /** The git context of the job's cwd at submit, and at its end (when it was a work tree). */
  git?: GitContext;
  git_at_end?: GitContext;
}
