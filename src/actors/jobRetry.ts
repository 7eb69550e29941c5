/**
 * job.retry: which ended jobs may run again, from which sheet, with what spec.
 *
 * - failed, cancelled, interrupted: from the first sheet that did not complete, or from
 *   `from_sheet` when given — which may not skip a sheet that did not complete (a job that
 *   ends `completed` must have run every sheet to success).
 * - completed: only with `from_sheet` (nothing is unfinished; running sheets again is a choice).
 * - queued, running, paused, pending: an error naming the state (cancel it first).
 *
 * The spec comes from `<job dir>/spec.json`, written at submit (owner-only, like the log: it
 * holds environment values, which the event log never records). Without it (a job submitted
 * by an older conductor) the sheets in job.submitted are enough unless the job set
 * environment variables.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobRecord, JobSpec, SheetSpec } from '../events/jobRecord.js';
import { TERMINAL_JOB_STATUSES } from '../events/jobRecord.js';
import type { DurableEvent } from '../events/types.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';

export const SPEC_FILE = 'spec.json';

export interface RetryPlan {
  from_sheet: number;
  attempt: number;
  previous_status: string;
  spec: JobSpec;
}

/** Written synchronously at submit; a failure (full disk) is logged, the job still runs. */
export function writeJobSpec(dir: string, spec: JobSpec, log: (m: string) => void): void {
  try {
    fs.writeFileSync(path.join(dir, SPEC_FILE), JSON.stringify(spec), { mode: 0o600 });
  } catch (err) {
    log(`could not keep the spec of ${path.basename(dir)} for job.retry: ${(err as Error).message}`);
  }
}

function readJobSpec(dir: string): JobSpec | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, SPEC_FILE), 'utf8')) as JobSpec;
  } catch {
    return undefined;
  }
}

/** The spec rebuilt from job.submitted, when it holds everything (no environment values). */
function specFromSubmitted(jobId: string, submitted: DurableEvent | undefined): JobSpec {
  const d = (submitted?.data ?? {}) as { name?: string; sheets?: Array<Record<string, unknown>>; restart?: JobSpec['restart'] };
  const sheets = d.sheets ?? [];
  if (sheets.length === 0 || sheets.some((s) => Array.isArray(s.env_keys) && s.env_keys.length > 0)) {
    throw new ProtocolError(
      ErrorCode.INVALID_STATE,
      `cannot retry job "${jobId}": its spec was not kept (${SPEC_FILE} is missing) and its environment values are not in the event log`,
      { job_id: jobId },
    );
  }
  const spec: JobSpec = {
    sheets: sheets.map((s) => {
      const sheet: SheetSpec = { argv: s.argv as string[] };
      if (typeof s.cwd === 'string') sheet.cwd = s.cwd;
      if (typeof s.timeout_seconds === 'number') sheet.timeout_seconds = s.timeout_seconds;
      if (typeof s.name === 'string') sheet.name = s.name;
      return sheet;
    }),
  };
  if (d.name !== undefined) spec.name = d.name;
  if (d.restart !== undefined) spec.restart = d.restart;
  return spec;
}

/** Check a retry of `record` and say what runs; throws INVALID_STATE / INVALID_PARAMS. */
export function planRetry(
  record: JobRecord,
  fromSheet: number | undefined,
  jobDir: string,
  submitted: () => DurableEvent | undefined,
): RetryPlan {
  const jobId = record.job_id;
  if (!TERMINAL_JOB_STATUSES.includes(record.status)) {
    throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot retry job "${jobId}": it is ${record.status}`, { job_id: jobId, status: record.status });
  }
  const firstUnfinished = record.sheets.find((s) => s.status !== 'completed')?.sheet_num;
  if (fromSheet === undefined) {
    if (firstUnfinished === undefined) {
      throw new ProtocolError(
        ErrorCode.INVALID_STATE,
        `cannot retry job "${jobId}": it is completed, every sheet ran; give from_sheet to run sheets again`,
        { job_id: jobId, status: record.status },
      );
    }
    fromSheet = firstUnfinished;
  } else if (fromSheet > record.total_sheets) {
    throw new ProtocolError(ErrorCode.INVALID_PARAMS, `invalid params: "from_sheet" is ${fromSheet}, but job "${jobId}" has ${record.total_sheets} sheet(s)`, {
      field: 'from_sheet',
    });
  } else if (firstUnfinished !== undefined && fromSheet > firstUnfinished) {
    throw new ProtocolError(
      ErrorCode.INVALID_PARAMS,
      `invalid params: "from_sheet" ${fromSheet} would skip sheet ${firstUnfinished}, which did not complete (it is ${record.sheets[firstUnfinished - 1]!.status}); give at most ${firstUnfinished}`,
      { field: 'from_sheet' },
    );
  }
  const spec = readJobSpec(jobDir) ?? specFromSubmitted(jobId, submitted());
  return { from_sheet: fromSheet, attempt: (record.attempt ?? 1) + 1, previous_status: record.status, spec };
}
