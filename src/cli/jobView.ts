/** How `mzt jobs` and `mzt job ID` show a job: its row, and its page with cost and sheets. */
import type { JobRecord } from '../events/jobRecord.js';
import type { JobWithCost } from '../ipc/client.js';
import { costCells, cpuPercentText, cpuTimeText, memText } from './costFormat.js';
import { attemptCell, attemptLines, provenanceLines } from './jobDetails.js';
import { duration, localTime, table } from './output.js';

const isActive = (job: JobRecord) => job.status === 'running' || job.status === 'paused';

export function jobRow(job: JobWithCost): string[] {
  const end = job.ended_at ?? Date.now() / 1000;
  return [
    job.job_id,
    job.name,
    job.status,
    `${job.completed_sheets}/${job.total_sheets}`,
    attemptCell(job),
    ...costCells(job.cost, isActive(job)),
    localTime(job.started_at ?? job.submitted_at),
    job.started_at ? duration(end - job.started_at) : '-',
  ];
}

/** The cost lines of `mzt job`: now (active) or in all (ended), and the peak. */
function costLines(job: JobWithCost): string[] {
  const c = job.cost;
  if (!c) return [`cost      ${job.status === 'queued' ? 'not started' : 'not measured'}`];
  const now = isActive(job) ? `CPU ${cpuPercentText(c.cpu_percent)}%, RSS ${memText(c.rss_mb)}, ${c.processes} process(es) now; ` : '';
  return [`cost      ${now}CPU time ${cpuTimeText(c.cpu_seconds)}, peak RSS ${memText(c.peak_rss_mb)}${c.gpu_memory_mb ? `, GPU ${memText(c.gpu_memory_mb)}` : ''}`];
}

export function printJob(job: JobWithCost): void {
  const sheetCost = new Map((job.cost?.sheets ?? []).map((s) => [s.sheet_num, s]));
  const lines = [
    `job       ${job.job_id}`,
    `name      ${job.name}`,
    `status    ${job.status}${job.reason ? ` (${job.reason})` : ''}`,
    `submitted ${localTime(job.submitted_at)}`,
    `started   ${localTime(job.started_at)}`,
    `ended     ${localTime(job.ended_at)}`,
    ...attemptLines(job),
    ...costLines(job),
    ...provenanceLines(job),
    '',
    table(
      ['SHEET', 'STATUS', 'PID', 'EXIT', 'DURATION', 'CPU%', 'RSS', 'CPU TIME', 'COMMAND'],
      job.sheets.map((s) => [
        String(s.sheet_num),
        s.status,
        s.pid ? String(s.pid) : '-',
        s.signal ? s.signal : s.exit_code === undefined || s.exit_code === null ? '-' : String(s.exit_code),
        duration(s.duration_seconds),
        ...costCells(sheetCost.get(s.sheet_num), s.status === 'running' && isActive(job)),
        s.argv.join(' '),
      ]),
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
