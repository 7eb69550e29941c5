/**
 * The `cost` of a job record (job.get / job.list): the live figures of the latest snapshot
 * for a running or paused job, the ledger's final figures for an ended one, null for a
 * queued job or one nothing was measured for. The same definition as `job_costs`
 * (monitor/jobCosts.ts), so every surface shows the same numbers.
 */
import type { JobStatus } from '../events/jobRecord.js';
import type { CostFigures, LedgerSheetCost, SheetCost, SystemSnapshot } from './snapshot.js';

export interface RecordCost extends CostFigures {
  sheets: SheetCost[];
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;

/** The job's entry of the snapshot, without its id; null when the snapshot does not have it. */
export function liveCost(snapshot: SystemSnapshot | undefined, jobId: string): RecordCost | null {
  const cost = snapshot?.job_costs.find((c) => c.job_id === jobId);
  if (!cost) return null;
  const { job_id: _id, ...figures } = cost;
  return figures;
}

/**
 * Final figures from the ledger's rows (one per sheet; sheet_num null = the job's processes
 * tied to no sheet). Nothing runs any more: no CPU%, no RSS, no process, no GPU memory held.
 * The job's peak is the highest sheet peak: its sheets run one after another.
 */
export function endedCost(rows: readonly LedgerSheetCost[]): RecordCost | null {
  if (rows.length === 0) return null;
  const ended = (cpuSeconds: number, peak: number): CostFigures => ({
    cpu_percent: null,
    rss_mb: 0,
    processes: 0,
    cpu_seconds: round2(cpuSeconds),
    peak_rss_mb: round1(peak),
    gpu_memory_mb: null,
  });
  let cpuSeconds = 0;
  let peak = 0;
  const sheets: SheetCost[] = [];
  for (const r of rows) {
    cpuSeconds += r.cpu_seconds;
    peak = Math.max(peak, r.peak_rss_mb);
    if (r.sheet_num !== null) sheets.push({ sheet_num: r.sheet_num, ...ended(r.cpu_seconds, r.peak_rss_mb) });
  }
  return { ...ended(cpuSeconds, peak), sheets };
}

export function recordCost(
  record: { job_id: string; status: JobStatus },
  sources: { snapshot: SystemSnapshot | undefined; ledger(jobId: string): readonly LedgerSheetCost[] },
): RecordCost | null {
  switch (record.status) {
    case 'queued':
      return null;
    case 'running':
    case 'paused':
      return liveCost(sources.snapshot, record.job_id);
    default:
      return endedCost(sources.ledger(record.job_id));
  }
}
