import { describe, expect, it } from 'vitest';
import { AnomalyTracker, detectAnomalies } from '../../src/monitor/anomalies.js';
import { LifecycleTracker } from '../../src/monitor/lifecycle.js';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import type { ProcessMetric } from '../../src/probe/types.js';

const proc = (pid: number, rss_mb: number, cpu_percent: number | null = 1, open_fds: number | null = 10): ProcessMetric => ({
  pid, ppid: 1, command: `p${pid}`, state: 'S', cpu_percent, rss_mb, vms_mb: rss_mb * 2, threads: 1, open_fds, age_seconds: 1, job_id: 'j', sheet_num: 1,
});

function snap(ts: number, processes: ProcessMetric[], extra: Partial<SystemSnapshot> = {}): SystemSnapshot {
  return {
    timestamp: ts, daemon_pid: 1, system_memory_total_mb: 1000, system_memory_available_mb: 500, system_memory_used_mb: 500,
    daemon_rss_mb: 50, daemon_cpu_percent: 1, load_avg_1: 0, load_avg_5: 0, load_avg_15: 0, cpu_count: 2, system_cpu_percent: 1,
    processes, gpus: [], pressure_level: 'none', running_jobs: 1, active_sheets: 1, zombie_count: 0, zombie_pids: [], job_progress: [],
    conductor_uptime_seconds: ts,
    conductor: { cpu_percent: 1, rss_mb: 50, sample_cost_ms: 1, sample_duration_ms: 1, sample_blocking_ms: 1, event_loop_delay_p99_ms: 1, event_loop_delay_max_ms: 1, interval_seconds: 1 },
    ...extra,
  };
}

describe('anomalies', () => {
  it('finds a memory spike against the window baseline, with severity by ratio', () => {
    const found = detectAnomalies(snap(100, [proc(5, 40), proc(6, 10)]), [snap(80, [proc(5, 20), proc(6, 9)])]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ anomaly_type: 'memory_spike', pid: 5, severity: 'high', job_id: 'j', metric_value: 40, threshold: 30 });
    expect(detectAnomalies(snap(100, [proc(5, 70)]), [snap(80, [proc(5, 20)])])[0]!.severity).toBe('critical');
  });

  it('flags a runaway only after the duration, zombies, fd exhaustion, low system memory', () => {
    const hot = (ts: number) => snap(ts, [proc(7, 5, 99)]);
    const history = [hot(0), hot(30), hot(59)];
    expect(detectAnomalies(hot(59), history.slice(0, 2)).some((a) => a.anomaly_type === 'runaway_process')).toBe(false);
    expect(detectAnomalies(hot(61), history).find((a) => a.anomaly_type === 'runaway_process')!.description).toMatch(/PID 7 at 99% CPU for 61s/);
    const types = detectAnomalies(snap(1, [proc(8, 1, 1, 1500)], { zombie_count: 2, zombie_pids: [9, 10], system_memory_available_mb: 50 }), []).map((a) => a.anomaly_type);
    expect(types).toEqual(['zombie', 'fd_exhaustion', 'system_memory_low']);
  });

  it('tracker reports an anomaly when it begins, not on every sample', () => {
    const t = new AnomalyTracker();
    const z = (ts: number, n: number) => snap(ts, [], { zombie_count: n, zombie_pids: n ? [9] : [] });
    expect(t.observe(z(1, 1))).toHaveLength(1);
    expect(t.observe(z(2, 1))).toHaveLength(0);
    expect(t.observe(z(3, 0))).toHaveLength(0);
    expect(t.observe(z(4, 1))).toHaveLength(1);
  });

  it('lifecycle tracker diffs samples, counts the first sample as spawned, ignores sheet leaders', () => {
    const l = new LifecycleTracker();
    // The first sample: descendants already there were started by this conductor before it.
    expect(l.observe([proc(1, 1), proc(2, 1)], new Set([1])).spawned.map((p) => p.pid)).toEqual([2]);
    expect(l.observe([proc(1, 1), proc(2, 1)], new Set([1]))).toEqual({ spawned: [], exited: [] });
    const change = l.observe([proc(1, 1), proc(3, 1)], new Set([1]));
    expect(change.spawned.map((p) => p.pid)).toEqual([3]);
    expect(change.exited.map((p) => p.pid)).toEqual([2]);
  });
});
