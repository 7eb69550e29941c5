/** Lines of `mzt job ID` for a job's labels, provenance and attempts. */
import type { GitContext, JobRecord } from '../events/jobRecord.js';

function git(g: GitContext): string {
  return `${g.sha ? g.sha.slice(0, 12) : '(no commit)'} ${g.branch ?? '(detached)'}${g.dirty ? ', dirty' : ', clean'}`;
}

export function provenanceLines(job: JobRecord): string[] {
  const lines: string[] = [];
  const labels = Object.entries(job.labels ?? {});
  if (labels.length) lines.push(`labels    ${labels.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (job.git) lines.push(`git       ${git(job.git)} (at submit)`);
  if (job.git_at_end) lines.push(`git end   ${git(job.git_at_end)}`);
  return lines;
}

/** The ATTEMPT column of `mzt jobs`: the run number, and a restart's wait while pending. */
export function attemptCell(job: JobRecord, now = Date.now() / 1000): string {
  const n = String(job.attempt ?? 1);
  if (job.status !== 'pending' || job.restart_at === undefined) return n;
  return `${n} (next in ${Math.max(0, Math.ceil(job.restart_at - now))}s)`;
}

/** Lines of `mzt job ID` for its attempt, restart policy and own limits. */
export function attemptLines(job: JobRecord): string[] {
  const lines = [`attempt   ${attemptCell(job)}`];
  const r = job.restart;
  if (r && r.on !== 'never') {
    const b = r.backoff;
    lines.push(`restart   on ${r.on}, at most ${r.max_attempts} runs, backoff ${b.initial_seconds}s x${b.factor} up to ${b.max_seconds}s`);
  }
  const l = job.limits;
  if (l) {
    const parts = [l.memory_mb !== undefined ? `memory ${l.memory_mb} MB` : '', l.processes !== undefined ? `${l.processes} processes` : ''].filter(Boolean);
    lines.push(`limits    ${parts.join(', ')}`);
  }
  return lines;
}
