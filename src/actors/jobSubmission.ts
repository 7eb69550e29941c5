/**
 * What a submission checks and records: its job id (given, or drawn until unused) and the
 * job.submitted data. No state: JobManager.submit calls these in order.
 */
import { LABEL_KEY, type GitContext, type JobSpec } from '../events/jobRecord.js';
import { generateJobId } from '../events/jobIds.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { isValidJobId } from '../shared/paths.js';
import type { RestartPolicy } from './restartPolicy.js';

/** Refuse a client-chosen job id that is not a valid file name part. */
export function checkJobIdSyntax(spec: JobSpec): void {
  if (spec.job_id !== undefined && !isValidJobId(spec.job_id)) {
    throw new ProtocolError(ErrorCode.INVALID_PARAMS, 'invalid params: "job_id" must match [A-Za-z0-9_.-]{1,64}', { field: 'job_id' });
  }
}

/** Refuse a label key the schema lets through but label queries cannot name (job.submit and fleet jobs alike). */
export function checkLabelKeys(spec: JobSpec): void {
  const badLabel = Object.keys(spec.labels ?? {}).find((k) => !LABEL_KEY.test(k));
  if (badLabel !== undefined) {
    throw new ProtocolError(ErrorCode.INVALID_PARAMS, `invalid params: label key ${JSON.stringify(badLabel)} must match ${LABEL_KEY.source}`, { field: `labels.${badLabel}` });
  }
}

/** The new job's id; JOB_EXISTS when it is taken (ids are never reused). */
export function pickJobId(spec: JobSpec, taken: (jobId: string) => boolean): string {
  let jobId = spec.job_id ?? generateJobId(spec.name);
  // A generated id can repeat (same name, same second, 16 random bits): draw another.
  for (let i = 0; spec.job_id === undefined && i < 8 && taken(jobId); i++) jobId = generateJobId(spec.name);
  if (taken(jobId)) throw new ProtocolError(ErrorCode.JOB_EXISTS, `a job with id "${jobId}" already exists`, { job_id: jobId });
  return jobId;
}

/** The data of job.submitted. Environment values may hold secrets: only their names are recorded. */
export function submittedData(
  jobId: string,
  spec: JobSpec,
  defaultTimeoutSeconds: number,
  git: GitContext | undefined,
  restart: RestartPolicy | undefined,
): Record<string, unknown> {
  return {
    name: spec.name ?? jobId,
    total_sheets: spec.sheets.length,
    sheets: spec.sheets.map((s) => ({
      argv: s.argv,
      cwd: s.cwd ?? spec.cwd ?? null,
      timeout_seconds: s.timeout_seconds ?? defaultTimeoutSeconds,
      name: s.name ?? null,
      env_keys: Object.keys({ ...spec.env, ...s.env }),
    })),
    ...(spec.labels ? { labels: spec.labels } : {}),
    ...(spec.limits ? { limits: spec.limits } : {}),
    ...(git ? { git } : {}),
    ...(restart ? { restart } : {}),
  };
}
