/** Lines of `mzt job ID` for a job's labels and provenance. */
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
