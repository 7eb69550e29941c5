/**
 * Job state as a pure fold over the event log. The store applies it in the same
 * transaction as each append; `EventStore.rebuildProjection` applies it from scratch, and
 * the two must always agree.
 *
 * Rules:
 * - `job.submitted` creates the record; any other event for a job without a record is ignored.
 * - A terminal record (completed, failed, cancelled, interrupted) is final: later events for
 *   that job change nothing, not even last_seq.
 * - Every other event of a live job is applied and moves last_seq, even when it changes nothing
 *   else (process.*, job.queued), so last_seq is "the newest event of this job's story".
 * - `job.cleared` deletes a terminal record (the reducer returns undefined); later events of
 *   that id find no record, as for any unknown job.
 * - `job.retried` is the one event that reopens a terminal record (job.retry), or ends a
 *   restart backoff (`pending`): the job is queued again, its `attempt` moves on, and the
 *   sheets from `from_sheet` on are pending again; those before keep what they were.
 * - The reducer never throws on odd data: fields of the wrong type are ignored.
 */
import type { GitContext, JobLimits, JobRecord, JobStatus, RestartPolicy, SheetRecord, SheetStatus } from './jobRecord.js';
import { TERMINAL_JOB_STATUSES } from './jobRecord.js';
import type { DurableEvent } from './types.js';

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How a failed sheet's `reason` reads as a sheet status; anything else is plain `failed`. */
const FAILED_SHEET_STATUS: Record<string, SheetStatus> = {
  timeout: 'timed_out',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
};

/** What a sheet still running becomes when its job ends under it. */
const RUNNING_SHEET_AT_JOB_END: Record<string, SheetStatus> = {
  cancelled: 'cancelled',
  interrupted: 'interrupted',
  failed: 'failed',
  completed: 'failed', // a job cannot complete with a sheet still running; say so rather than hide it
};

const TERMINAL_EVENT_STATUS: Record<string, JobStatus> = {
  'job.completed': 'completed',
  'job.failed': 'failed',
  'job.cancelled': 'cancelled',
  'job.interrupted': 'interrupted',
};

export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}

function gitContext(v: unknown): GitContext | undefined {
  if (!isObject(v) || typeof v.dirty !== 'boolean') return undefined;
  return { sha: str(v.sha) ?? null, branch: str(v.branch) ?? null, dirty: v.dirty };
}

function labels(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return Object.keys(out).length ? out : undefined;
}

/** The policy as job.submitted recorded it (already complete); anything odd is ignored. */
function restartPolicy(v: unknown): RestartPolicy | undefined {
  if (!isObject(v) || !isObject(v.backoff) || typeof v.on !== 'string' || num(v.max_attempts) === undefined) return undefined;
  const b = v.backoff;
  const [initial, factor, max] = [num(b.initial_seconds), num(b.factor), num(b.max_seconds)];
  if (initial === undefined || factor === undefined || max === undefined) return undefined;
  return { on: v.on as RestartPolicy['on'], max_attempts: v.max_attempts as number, backoff: { initial_seconds: initial, factor, max_seconds: max } };
}

/** The limits job.submitted recorded; keys that are not positive numbers are ignored. */
function jobLimits(v: unknown): JobLimits | undefined {
  if (!isObject(v)) return undefined;
  const out: JobLimits = {};
  const [memory, processes] = [num(v.memory_mb), num(v.processes)];
  if (memory !== undefined && memory > 0) out.memory_mb = memory;
  if (processes !== undefined && processes > 0) out.processes = processes;
  return Object.keys(out).length ? out : undefined;
}

/** job.retried: the job is queued again, from `from_sheet` on its sheets are pending again. */
function reopen(record: JobRecord, event: DurableEvent, d: Record<string, unknown>): JobRecord {
  const from = num(d.from_sheet) ?? 1;
  const next: JobRecord = { ...record, status: 'queued', last_seq: event.seq, attempt: num(d.attempt) ?? (record.attempt ?? 1) + 1 };
  delete next.ended_at;
  delete next.reason;
  delete next.restart_at;
  delete next.git_at_end;
  next.sheets = record.sheets.map((s) => {
    // A sheet to run again starts over from what its spec gave it.
    return s.sheet_num < from ? { ...s } : sheetFromSpec(s, s.sheet_num - 1);
  });
  next.completed_sheets = next.sheets.filter((s) => s.status === 'completed').length;
  return next;
}

function sheetFromSpec(spec: unknown, index: number): SheetRecord {
  const s = isObject(spec) ? spec : {};
  const argv = Array.isArray(s.argv) ? s.argv.filter((a): a is string => typeof a === 'string') : [];
  const sheet: SheetRecord = { sheet_num: index + 1, argv, status: 'pending' };
  const name = str(s.name);
  if (name !== undefined) sheet.name = name;
  const cwd = str(s.cwd);
  if (cwd !== undefined) sheet.cwd = cwd;
  const timeout = num(s.timeout_seconds);
  if (timeout !== undefined) sheet.timeout_seconds = timeout;
  return sheet;
}

function createRecord(jobId: string, event: DurableEvent): JobRecord {
  const d = isObject(event.data) ? event.data : {};
  const sheets = Array.isArray(d.sheets) ? d.sheets.map(sheetFromSpec) : [];
  const record: JobRecord = {
    job_id: jobId,
    name: str(d.name) ?? jobId,
    status: 'queued',
    submitted_at: event.ts,
    total_sheets: sheets.length,
    completed_sheets: 0,
    sheets,
    last_seq: event.seq,
    attempt: 1,
  };
  const restart = restartPolicy(d.restart);
  if (restart) record.restart = restart;
  const l = labels(d.labels);
  if (l) record.labels = l;
  const git = gitContext(d.git);
  if (git) record.git = git;
  const limits = jobLimits(d.limits);
  if (limits) record.limits = limits;
  return record;
}

export function applyJobEvent(record: JobRecord | undefined, event: DurableEvent): JobRecord | undefined {
  const jobId = event.job_id;
  if (jobId === undefined) return record; // not a job event

  if (event.type === 'job.submitted') {
    // Job ids are never reused; a second submission of the same id changes nothing.
    return record ?? createRecord(jobId, event);
  }
  if (!record) return undefined;
  if (event.type === 'job.cleared') return isTerminalStatus(record.status) ? undefined : record;
  const d = isObject(event.data) ? event.data : {};
  if (event.type === 'job.retried' && (isTerminalStatus(record.status) || record.status === 'pending')) return reopen(record, event, d);
  if (isTerminalStatus(record.status)) return record;

  const next: JobRecord = { ...record, sheets: record.sheets.map((s) => ({ ...s })), last_seq: event.seq };
  const sheet = event.sheet_num !== undefined ? next.sheets.find((s) => s.sheet_num === event.sheet_num) : undefined;

  switch (event.type) {
    case 'job.started':
      next.status = 'running';
      next.started_at = event.ts;
      next.attempt = num(d.attempt) ?? next.attempt ?? 1;
      return next;

    case 'job.restart_scheduled': {
      next.status = 'pending';
      const at = num(d.restart_at);
      if (at !== undefined) next.restart_at = at;
      return next;
    }

    case 'job.paused':
      next.status = 'paused';
      return next;

    case 'job.resumed':
      next.status = 'running';
      return next;

    case 'sheet.started': {
      if (!sheet) return next;
      sheet.status = 'running';
      sheet.started_at = event.ts;
      const pid = num(d.pid);
      if (pid !== undefined) sheet.pid = pid;
      next.current_sheet = sheet.sheet_num;
      return next;
    }

    case 'sheet.completed':
    case 'sheet.failed': {
      if (!sheet) return next;
      const ok = event.type === 'sheet.completed';
      sheet.status = ok ? 'completed' : (FAILED_SHEET_STATUS[String(d.reason)] ?? 'failed');
      sheet.exit_code = num(d.exit_code) ?? null;
      sheet.signal = str(d.signal) ?? null;
      sheet.ended_at = event.ts;
      const duration = num(d.duration_seconds);
      if (duration !== undefined) sheet.duration_seconds = duration;
      if (ok) next.completed_sheets += 1;
      next.current_sheet = sheet.sheet_num;
      return next;
    }

    case 'job.completed':
    case 'job.failed':
    case 'job.cancelled':
    case 'job.interrupted': {
      const status = TERMINAL_EVENT_STATUS[event.type]!;
      next.status = status;
      delete next.restart_at;
      next.ended_at = event.ts;
      const reason = str(d.reason);
      if (reason !== undefined) next.reason = reason;
      const git = gitContext(d.git);
      if (git) next.git_at_end = git;
      for (const s of next.sheets) {
        if (s.status === 'pending') s.status = 'skipped';
        else if (s.status === 'running') {
          s.status = RUNNING_SHEET_AT_JOB_END[status]!;
          s.ended_at = event.ts;
        }
      }
      return next;
    }

    default:
      return next; // job.queued, process.* and others: only last_seq moves
  }
}
