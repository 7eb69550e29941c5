/**
 * Job state as a pure fold over the event log. The store applies it in the same
 * transaction as each append; `EventStore.rebuildProjection` applies it from scratch, and
 * the two must always agree.
 */
import type { JobRecord, SheetRecord, SheetStatus } from './jobRecord.js';
import { TERMINAL_JOB_STATUSES } from './jobRecord.js';
import type { DurableEvent } from './types.js';

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function applyJobEvent(record: JobRecord | undefined, event: DurableEvent): JobRecord | undefined {
  const jobId = event.job_id;
  if (!jobId) return record;
  const d = event.data ?? {};

  if (event.type === 'job.submitted') {
    if (record) return record; // ids are never reused; a duplicate submission changes nothing
    const specs = Array.isArray(d.sheets) ? (d.sheets as Array<Record<string, unknown>>) : [];
    const sheets: SheetRecord[] = specs.map((s, i) => {
      const sheet: SheetRecord = {
        sheet_num: i + 1,
        argv: Array.isArray(s.argv) ? (s.argv as string[]) : [],
        status: 'pending',
      };
      if (str(s.name) !== undefined) sheet.name = str(s.name);
      if (str(s.cwd) !== undefined) sheet.cwd = str(s.cwd);
      if (num(s.timeout_seconds) !== undefined) sheet.timeout_seconds = num(s.timeout_seconds);
      return sheet;
    });
    return {
      job_id: jobId,
      name: str(d.name) ?? jobId,
      status: 'queued',
      submitted_at: event.ts,
      total_sheets: sheets.length,
      completed_sheets: 0,
      sheets,
      last_seq: event.seq,
    };
  }

  if (!record) return undefined;
  if (TERMINAL_JOB_STATUSES.includes(record.status)) return record; // terminal is final
  const next: JobRecord = { ...record, sheets: record.sheets.map((s) => ({ ...s })), last_seq: event.seq };
  const sheet = event.sheet_num !== undefined ? next.sheets[event.sheet_num - 1] : undefined;

  switch (event.type) {
    case 'job.queued':
      return next;
    case 'job.started':
      next.status = 'running';
      next.started_at = event.ts;
      return next;
    case 'sheet.started':
      if (!sheet) return next;
      sheet.status = 'running';
      sheet.started_at = event.ts;
      if (num(d.pid) !== undefined) sheet.pid = num(d.pid);
      next.current_sheet = sheet.sheet_num;
      return next;
    case 'sheet.completed':
    case 'sheet.failed': {
      if (!sheet) return next;
      const ok = event.type === 'sheet.completed';
      const stoppedAs: Record<string, SheetStatus> = { timeout: 'timed_out', cancelled: 'cancelled', interrupted: 'interrupted' };
      sheet.status = ok ? 'completed' : (stoppedAs[String(d.reason)] ?? 'failed');
      sheet.exit_code = num(d.exit_code) ?? null;
      sheet.signal = str(d.signal) ?? null;
      sheet.ended_at = event.ts;
      if (num(d.duration_seconds) !== undefined) sheet.duration_seconds = num(d.duration_seconds);
      if (ok) next.completed_sheets += 1;
      next.current_sheet = sheet.sheet_num;
      return next;
    }
    case 'job.completed':
    case 'job.failed':
    case 'job.cancelled':
    case 'job.interrupted': {
      const status = event.type.slice('job.'.length) as JobRecord['status'];
      next.status = status;
      next.ended_at = event.ts;
      const reason = str(d.reason);
      if (reason !== undefined) next.reason = reason;
      const runningBecomes: SheetStatus = status === 'cancelled' ? 'cancelled' : status === 'interrupted' ? 'interrupted' : 'failed';
      for (const s of next.sheets) {
        if (s.status === 'pending') s.status = 'skipped';
        else if (s.status === 'running') {
          s.status = runningBecomes;
          s.ended_at = event.ts;
        }
      }
      return next;
    }
    default:
      return record; // other events (process.*) do not change the job record
  }
}
