/**
 * Per-job cost at a sample: the one definition of "what a job costs" (issue 14) that every
 * surface and the resource monitor's blame read. Computed once per sample from the tagged
 * processes (job_id/sheet_num) and the CPU tracker's per-tag CPU seconds, which include
 * exited descendants. Peaks are kept here only while a job is active: once it ends, the
 * ledger (storage/monitorStorage.ts) holds its final figures.
 */
import type { ProcessMetric, TagCpu } from '../probe/types.js';
import type { CostFigures, JobCost, SheetCost } from './snapshot.js';

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;

/** Running sums of one job or sheet at one sample (unrounded). */
interface Acc {
  cpu: number;
  cpuKnown: boolean;
  rss: number;
  processes: number;
  cpuSeconds: number;
  gpu: number | null;
}

const newAcc = (): Acc => ({ cpu: 0, cpuKnown: false, rss: 0, processes: 0, cpuSeconds: 0, gpu: null });

function add(acc: Acc, p: ProcessMetric): void {
  acc.processes++;
  acc.rss += p.rss_mb;
  if (p.cpu_percent !== null) {
    acc.cpu += p.cpu_percent;
    acc.cpuKnown = true;
  }
  if (p.gpu_memory_mb !== undefined) acc.gpu = (acc.gpu ?? 0) + p.gpu_memory_mb;
}

function figures(acc: Acc, peak: number): CostFigures {
  return {
    // Unknown only while every live process of the tree is new (seen once); no tree is 0.
    cpu_percent: acc.processes === 0 ? 0 : acc.cpuKnown ? round1(acc.cpu) : null,
    rss_mb: round1(acc.rss),
    processes: acc.processes,
    cpu_seconds: round2(acc.cpuSeconds),
    peak_rss_mb: round1(peak),
    gpu_memory_mb: acc.gpu === null ? null : round1(acc.gpu),
  };
}

interface Peaks {
  job: number;
  sheets: Map<number, number>;
}

/** Peaks already known for a job that becomes active (the ledger's, from before a restart or a retry). */
export type PeakSeed = (jobId: string) => { job: number; sheets: ReadonlyMap<number, number> } | undefined;

export class JobCostAggregator {
  /** Highest RSS sum seen per active job (and per sheet); forgotten when the job is not active. */
  private readonly peaks = new Map<string, Peaks>();

  constructor(private readonly seed?: PeakSeed) {}

  /**
   * The cost of every active job at this sample. `active`: ids of running or paused jobs (a
   * tag of an ended job, still in the sample or the tracker, is not reported). Jobs come out
   * in the order of `active`; sheets in ascending order.
   */
  aggregate(processes: readonly ProcessMetric[], tagCpu: readonly TagCpu[], active: readonly string[]): JobCost[] {
    const activeSet = new Set(active);
    const jobs = new Map<string, { acc: Acc; sheets: Map<number, Acc> }>();
    const jobOf = (id: string) => {
      let j = jobs.get(id);
      if (!j) jobs.set(id, (j = { acc: newAcc(), sheets: new Map() }));
      return j;
    };
    const sheetOf = (j: { sheets: Map<number, Acc> }, num: number) => {
      let s = j.sheets.get(num);
      if (!s) j.sheets.set(num, (s = newAcc()));
      return s;
    };
    for (const p of processes) {
      if (p.job_id === null || !activeSet.has(p.job_id)) continue;
      const j = jobOf(p.job_id);
      add(j.acc, p);
      // A process tagged with the job but no sheet counts in the job's total only.
      if (p.sheet_num !== null) add(sheetOf(j, p.sheet_num), p);
    }
    for (const t of tagCpu) {
      if (!activeSet.has(t.job_id)) continue;
      const j = jobOf(t.job_id);
      j.acc.cpuSeconds += t.cpu_seconds;
      if (t.sheet_num !== null) sheetOf(j, t.sheet_num).cpuSeconds += t.cpu_seconds;
    }

    for (const id of this.peaks.keys()) if (!activeSet.has(id)) this.peaks.delete(id);
    const out: JobCost[] = [];
    for (const id of active) {
      const j = jobs.get(id) ?? { acc: newAcc(), sheets: new Map<number, Acc>() };
      let peaks = this.peaks.get(id);
      if (!peaks) {
        // Once per job that becomes active: the peaks recorded for it so far, if any.
        const known = this.seed?.(id);
        this.peaks.set(id, (peaks = { job: known?.job ?? 0, sheets: new Map(known?.sheets ?? []) }));
      }
      peaks.job = Math.max(peaks.job, j.acc.rss);
      const sheets: SheetCost[] = [];
      for (const num of [...j.sheets.keys()].sort((a, b) => a - b)) {
        const acc = j.sheets.get(num)!;
        const peak = Math.max(peaks.sheets.get(num) ?? 0, acc.rss);
        peaks.sheets.set(num, peak);
        sheets.push({ sheet_num: num, ...figures(acc, peak) });
      }
      out.push({ job_id: id, ...figures(j.acc, peaks.job), sheets });
    }
    return out;
  }

  /** Jobs whose peaks are held (bounded by the active jobs of the last sample). */
  get trackedJobs(): number {
    return this.peaks.size;
  }
}
