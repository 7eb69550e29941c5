/**
 * The per-job cost aggregation (issue 14) on scripted samples: sums per job and sheet, CPU
 * seconds from the tracker (exited descendants included), peaks kept across samples while a
 * job is active and forgotten after, unknown CPU% stays null, ended jobs' tags left out.
 */
import { describe, expect, it } from 'vitest';
import { JobCostAggregator } from '../../src/monitor/jobCosts.js';
import { endedCost, recordCost } from '../../src/monitor/jobCostRecord.js';
import type { ProcessMetric, TagCpu } from '../../src/probe/types.js';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';

let nextPid = 100;
function proc(job_id: string | null, sheet_num: number | null, rss_mb: number, cpu_percent: number | null, extra: Partial<ProcessMetric> = {}): ProcessMetric {
  return {
    pid: nextPid++, ppid: 1, command: 'x', state: 'S', cpu_percent, rss_mb, vms_mb: 0, threads: 1, open_fds: null, age_seconds: 1,
    job_id, sheet_num, ...extra,
  };
}
const cpu = (job_id: string, sheet_num: number | null, cpu_seconds: number, exited = 0): TagCpu => ({ job_id, sheet_num, cpu_seconds, exited_cpu_seconds: exited });

describe('JobCostAggregator', () => {
  it('sums each active job and sheet: CPU%, RSS, processes, CPU seconds, GPU memory', () => {
    const agg = new JobCostAggregator();
    const costs = agg.aggregate(
      [
        proc(null, null, 70, 3), // the conductor: nobody's
        proc('a', 1, 10, 50),
        proc('a', 1, 20.04, 25.5, { gpu_memory_mb: 300 }),
        proc('a', null, 5, 1), // the job's, no sheet: in the job's total only
        proc('b', 2, 7, null),
      ],
      [cpu('a', 1, 12.345, 2), cpu('a', null, 0.5), cpu('b', 2, 0)],
      ['a', 'b'],
    );
    expect(costs).toEqual([
      {
        job_id: 'a', cpu_percent: 76.5, rss_mb: 35, processes: 3, cpu_seconds: 12.85, peak_rss_mb: 35, gpu_memory_mb: 300,
        sheets: [{ sheet_num: 1, cpu_percent: 75.5, rss_mb: 30, processes: 2, cpu_seconds: 12.35, peak_rss_mb: 30, gpu_memory_mb: 300 }],
      },
      {
        // only new processes: CPU% unknown, not 0
        job_id: 'b', cpu_percent: null, rss_mb: 7, processes: 1, cpu_seconds: 0, peak_rss_mb: 7, gpu_memory_mb: null,
        sheets: [{ sheet_num: 2, cpu_percent: null, rss_mb: 7, processes: 1, cpu_seconds: 0, peak_rss_mb: 7, gpu_memory_mb: null }],
      },
    ]);
  });

  it('keeps the peak RSS across samples, per job and per sheet, and a finished sheet keeps its CPU seconds', () => {
    const agg = new JobCostAggregator();
    agg.aggregate([proc('a', 1, 100, 10), proc('a', 1, 50, 10)], [cpu('a', 1, 1)], ['a']);
    const [second] = agg.aggregate([proc('a', 2, 40, 90)], [cpu('a', 1, 1.5, 1.5), cpu('a', 2, 3)], ['a']);
    expect(second).toMatchObject({ rss_mb: 40, peak_rss_mb: 150, processes: 1, cpu_seconds: 4.5, cpu_percent: 90 });
    expect(second!.sheets).toEqual([
      { sheet_num: 1, cpu_percent: 0, rss_mb: 0, processes: 0, cpu_seconds: 1.5, peak_rss_mb: 150, gpu_memory_mb: null },
      { sheet_num: 2, cpu_percent: 90, rss_mb: 40, processes: 1, cpu_seconds: 3, peak_rss_mb: 40, gpu_memory_mb: null },
    ]);
  });

  it('leaves out tags of jobs that are not active, and forgets their peaks', () => {
    const agg = new JobCostAggregator();
    agg.aggregate([proc('a', 1, 100, 1)], [], ['a']);
    expect(agg.trackedJobs).toBe(1);
    // 'a' ended: its leftover process and tracker tag are not reported, its peak is dropped
    expect(agg.aggregate([proc('a', 1, 100, 1)], [cpu('a', 1, 9)], [])).toEqual([]);
    expect(agg.trackedJobs).toBe(0);
    // had it come back (a retry keeps the id), its peak starts again from this sample
    expect(agg.aggregate([proc('a', 1, 10, 1)], [], ['a'])[0]!.peak_rss_mb).toBe(10);
  });

  it('a job seen again starts from the peaks already recorded for it (once, when it becomes active)', () => {
    const asked: string[] = [];
    const agg = new JobCostAggregator((id) => {
      asked.push(id);
      return id === 'again' ? { job: 500, sheets: new Map([[1, 500]]) } : undefined;
    });
    const [again, fresh] = agg.aggregate([proc('again', 2, 30, 1), proc('fresh', 1, 20, 1)], [], ['again', 'fresh']);
    expect(again).toMatchObject({ rss_mb: 30, peak_rss_mb: 500 });
    expect(again!.sheets.map((x) => [x.sheet_num, x.peak_rss_mb])).toEqual([[2, 30]]); // sheet 1's peak is kept, shown once it reports again
    expect(fresh).toMatchObject({ peak_rss_mb: 20 });
    agg.aggregate([proc('again', 2, 30, 1)], [cpu('again', 1, 4)], ['again', 'fresh']);
    expect(agg.aggregate([], [cpu('again', 1, 4)], ['again'])[0]!.sheets[0]).toMatchObject({ sheet_num: 1, peak_rss_mb: 500 });
    expect(asked).toEqual(['again', 'fresh']);
  });

  it('reports an active job with no process yet as zeros (CPU% 0, not unknown)', () => {
    expect(new JobCostAggregator().aggregate([], [], ['q'])).toEqual([
      { job_id: 'q', cpu_percent: 0, rss_mb: 0, processes: 0, cpu_seconds: 0, peak_rss_mb: 0, gpu_memory_mb: null, sheets: [] },
    ]);
  });
});

describe('a job record\'s cost', () => {
  const row = (sheet_num: number | null, peak_rss_mb: number, cpu_seconds: number) => ({
    sheet_num, peak_rss_mb, cpu_seconds, exited_cpu_seconds: 0, max_cpu_percent: 10, pids_seen: 1, gpu_memory_peak_mb: null,
  });

  it('an ended job: the ledger\'s totals, nothing live', () => {
    expect(endedCost([row(1, 80.04, 2.5), row(2, 120, 1.25)])).toEqual({
      cpu_percent: null, rss_mb: 0, processes: 0, cpu_seconds: 3.75, peak_rss_mb: 120, gpu_memory_mb: null,
      sheets: [
        { sheet_num: 1, cpu_percent: null, rss_mb: 0, processes: 0, cpu_seconds: 2.5, peak_rss_mb: 80, gpu_memory_mb: null },
        { sheet_num: 2, cpu_percent: null, rss_mb: 0, processes: 0, cpu_seconds: 1.25, peak_rss_mb: 120, gpu_memory_mb: null },
      ],
    });
    expect(endedCost([])).toBeNull();
  });

  it('picks the source by status: live for running/paused, ledger for ended, none for queued', () => {
    const live = { job_id: 'j', cpu_percent: 5, rss_mb: 9, processes: 2, cpu_seconds: 1, peak_rss_mb: 9, gpu_memory_mb: null, sheets: [] };
    const snapshot = { job_costs: [live] } as unknown as SystemSnapshot;
    const ledger = () => [row(1, 50, 4)];
    const { job_id: _j, ...figures } = live;
    expect(recordCost({ job_id: 'j', status: 'running' }, { snapshot, ledger })).toEqual(figures);
    expect(recordCost({ job_id: 'j', status: 'paused' }, { snapshot, ledger })).toEqual(figures);
    expect(recordCost({ job_id: 'k', status: 'running' }, { snapshot, ledger })).toBeNull(); // not sampled yet
    expect(recordCost({ job_id: 'j', status: 'queued' }, { snapshot, ledger })).toBeNull();
    for (const status of ['completed', 'failed', 'cancelled', 'interrupted'] as const) {
      expect(recordCost({ job_id: 'j', status }, { snapshot, ledger })).toMatchObject({ cpu_seconds: 4, peak_rss_mb: 50, rss_mb: 0, processes: 0, cpu_percent: null });
    }
  });
});
