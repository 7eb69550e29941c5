import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MonitorStorage } from '../../src/storage/monitorStorage.js';
import { buildResourceReport } from '../../src/storage/resourceReport.js';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-mon-');

function snapshot(ts: number, rss: number): SystemSnapshot {
  return {
    timestamp: ts, daemon_pid: 1, system_memory_total_mb: 1000, system_memory_available_mb: 600, system_memory_used_mb: 400,
    daemon_rss_mb: 50, daemon_cpu_percent: null, load_avg_1: 1, load_avg_5: 1, load_avg_15: 1, cpu_count: 2, system_cpu_percent: null,
    processes: [
      { pid: 10, ppid: 1, command: 'a', state: 'R', cpu_percent: 80, rss_mb: rss, vms_mb: 1, threads: 1, open_fds: 3, age_seconds: 1, job_id: 'j1', sheet_num: 1 },
      { pid: 11, ppid: 10, command: 'b', state: 'S', cpu_percent: null, rss_mb: rss / 2, vms_mb: 1, threads: null, open_fds: null, age_seconds: null, job_id: 'j1', sheet_num: 1 },
    ],
    gpus: [{ index: 0, name: 'fake', utilization_pct: 5, memory_used_mb: 10, memory_total_mb: 100, temperature_c: 40 }],
    pressure_level: 'low', running_jobs: 1, active_sheets: 1, zombie_count: 1, zombie_pids: [99],
    job_progress: [{ job_id: 'j1', total_sheets: 2, last_completed_sheet: 0, current_sheet: 1, status: 'running' }],
    conductor_uptime_seconds: ts,
    conductor: { cpu_percent: null, rss_mb: 50, sample_cost_ms: 1, sample_duration_ms: 1, sample_blocking_ms: null, event_loop_delay_p99_ms: 1, event_loop_delay_max_ms: 2, interval_seconds: 1 },
  };
}

describe('MonitorStorage', () => {
  it('round-trips snapshots losslessly, aggregates minutes, keeps the ledger across reopen, and applies retention', () => {
    const dir = tempDir();
    const file = path.join(dir, 'monitor.db');
    let s = new MonitorStorage(file);
    const base = 1_800_000_000;
    for (let i = 0; i < 120; i++) {
      s.writeSnapshot(snapshot(base + i, 10 + i), [{ job_id: 'j1', sheet_num: 1, cpu_seconds: i * 0.5, exited_cpu_seconds: i * 0.1 }]);
    }
    const back = s.readSnapshots(base, 1000);
    expect(back).toHaveLength(120);
    expect(back[7]).toEqual(snapshot(base + 7, 17));
    expect(s.readMinutes(base, 10).reduce((n, m) => n + m.samples, 0)).toBe(120);
    expect(s.readProcessHistory(11, base + 100, 1000).map((p) => p.rss_mb)).toEqual(Array.from({ length: 20 }, (_, i) => (110 + i) / 2));
    s.close();
    s = new MonitorStorage(file);
    const [cost] = s.jobCosts('j1');
    expect(cost).toMatchObject({ sheet_num: 1, cpu_seconds: 59.5, pids_seen: 2, max_cpu_percent: 80 });
    expect(cost!.peak_rss_mb).toBeCloseTo(129 * 1.5);
    const report = buildResourceReport('j1', undefined, s.jobCosts('j1'), []);
    expect(report.text_report).toContain('Sheet 1: peak RSS 193.5 MB, max CPU 80%, CPU time 59.5 s');
    const removed = s.cleanup({ fullResolutionHours: 1, downsampledDays: 1 }, base + 3600 + 60);
    expect(removed.snapshots).toBe(60);
    expect(s.readSnapshots(0, 1000)).toHaveLength(60);
    expect(s.jobCosts('j1')).toHaveLength(1); // the ledger outlives snapshot retention
    s.close();
  });

  it("writes an ended job's CPU account when it changes, not every sample: a cleared job stays cleared", () => {
    const dir = tempDir();
    const s = new MonitorStorage(path.join(dir, 'monitor.db'));
    const idle = { ...snapshot(1_800_000_000, 10), processes: [] }; // j2 has no process left
    const account = (cpu: number) => [{ job_id: 'j2', sheet_num: 1, cpu_seconds: cpu, exited_cpu_seconds: cpu }];
    s.writeSnapshot(idle, account(2));
    expect(s.jobCosts('j2')).toMatchObject([{ cpu_seconds: 2 }]);
    s.writeSnapshot(idle, account(2.5)); // its final ticks, settled a sample later
    expect(s.jobCosts('j2')).toMatchObject([{ cpu_seconds: 2.5 }]);
    s.deleteJobs(['j2']);
    for (let i = 0; i < 3; i++) s.writeSnapshot(idle, account(2.5)); // the tracker still reports it
    expect(s.jobCosts('j2')).toEqual([]);
    s.writeSnapshot(idle, []); // forgotten by the tracker: forgotten here too
    s.writeSnapshot(idle, account(2.5)); // a new account with the same figures is new: written
    expect(s.jobCosts('j2')).toMatchObject([{ cpu_seconds: 2.5 }]);
    s.close();
  });
});
