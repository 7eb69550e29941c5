/**
 * The job model: what a client submits (JobSpec) and what the projection of the event log
 * says about a job (JobRecord). Sheets are numbered from 1, as in Marianne.
 */
/** A job's restart policy (what it means and how it is applied: actors/restartPolicy.ts). */
export type RestartOn = 'failure' | 'always' | 'never';

export interface RestartBackoff {
  initial_seconds: number;
  factor: number;
  max_seconds: number;
}

export interface RestartPolicy {
  on: RestartOn;
  max_attempts: number;
  backoff: RestartBackoff;
}

/** As submitted: every field optional, defaults in actors/restartPolicy.ts. */
export interface RestartPolicyInput {
  on?: RestartOn;
  max_attempts?: number;
  backoff?: Partial<RestartBackoff>;
}

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
  /** This job's own resource limits (enforced by conductor/shedding.ts); absent = none. */
  limits?: JobLimits;
  sheets: SheetSpec[];
  /** Restart policy (src/actors/restartPolicy.ts); absent: never restarted. */
  restart?: RestartPolicyInput;
}

/** Per-job limits, checked against the job's cost figures at every sample. */
export interface JobLimits {
  /** Sum of the tree's RSS. */
  memory_mb?: number;
  /** Live processes of the tree. */
  processes?: number;
}

/** The git work tree of a job's cwd (src/actors/gitContext.ts). */
export interface GitContext {
  sha: string | null;
  /** Null when HEAD is detached. */
  branch: string | null;
  dirty: boolean;
}

/** Label keys: what a selector or a column can show without quoting. */
export const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,128}$/;

/** `pending`: waiting for a restart backoff to pass (Marianne's name for a job held before its queue). */
export type JobStatus = 'queued' | 'running' | 'paused' | 'pending' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled', 'interrupted'];
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'paused', 'pending'];

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
  /** The job's run: 1 at submit, +1 at each retry or restart (job.retried). */
  attempt?: number;
  /** The restart policy, when the job has one (defaults filled in). */
  restart?: RestartPolicy;
  /** While `pending`: when the next attempt is queued (epoch seconds). */
  restart_at?: number;
  /** The job's own resource limits, as submitted (absent: none). */
  limits?: JobLimits;
}
