/**
 * Anomaly detection over snapshots, with Marianne's default thresholds: memory spike (RSS
 * ×1.5 within 30 s), runaway process (≥ 90% CPU for 60 s), zombies, fd exhaustion (≥ 1000
 * open fds), and low system memory (< 10% available). `AnomalyTracker` reports each one when
 * it starts, not on every sample, and keeps a bounded history.
 */
import type { SystemSnapshot } from './snapshot.js';

export type AnomalyType = 'memory_spike' | 'runaway_process' | 'zombie' | 'fd_exhaustion' | 'system_memory_low';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Anomaly {
  anomaly_type: AnomalyType;
  severity: Severity;
  pid: number | null;
  job_id: string | null;
  sheet_num: number | null;
  description: string;
  metric_value: number;
  threshold: number;
}

export interface AnomalyThresholds {
  memory_spike_ratio: number;
  memory_spike_window_seconds: number;
  runaway_cpu_percent: number;
  runaway_duration_seconds: number;
  fd_limit: number;
  system_memory_available_fraction: number;
}

export const DEFAULT_ANOMALY_THRESHOLDS: AnomalyThresholds = {
  memory_spike_ratio: 1.5,
  memory_spike_window_seconds: 30,
  runaway_cpu_percent: 90,
  runaway_duration_seconds: 60,
  fd_limit: 1000,
  system_memory_available_fraction: 0.1,
};

const r1 = (n: number) => Math.round(n * 10) / 10;

/** Anomalies in `current`, given earlier snapshots (oldest first). */
export function detectAnomalies(current: SystemSnapshot, history: SystemSnapshot[], t: AnomalyThresholds = DEFAULT_ANOMALY_THRESHOLDS): Anomaly[] {
  const found: Anomaly[] = [];
  const tag = (p: { job_id: string | null; sheet_num: number | null }) => ({ job_id: p.job_id, sheet_num: p.sheet_num });

  if (history.length > 0) {
    const since = current.timestamp - t.memory_spike_window_seconds;
    const baseline = history.find((s) => s.timestamp >= since) ?? history[history.length - 1]!;
    const before = new Map(baseline.processes.map((p) => [p.pid, p.rss_mb]));
    for (const p of current.processes) {
      const old = before.get(p.pid);
      if (!old || old <= 0 || p.rss_mb <= 0) continue;
      const ratio = p.rss_mb / old;
      if (ratio >= t.memory_spike_ratio) {
        found.push({
          anomaly_type: 'memory_spike',
          severity: ratio >= 2 * t.memory_spike_ratio ? 'critical' : 'high',
          pid: p.pid,
          ...tag(p),
          description: `PID ${p.pid} RSS grew ${Math.round((ratio - 1) * 100)}% (${r1(old)}→${r1(p.rss_mb)} MB) in ${r1(current.timestamp - baseline.timestamp)}s`,
          metric_value: r1(p.rss_mb),
          threshold: r1(old * t.memory_spike_ratio),
        });
      }
    }
  }

  for (const p of current.processes) {
    if (p.cpu_percent === null || p.cpu_percent < t.runaway_cpu_percent) continue;
    let earliest = current.timestamp;
    for (let i = history.length - 1; i >= 0; i--) {
      const seen = history[i]!.processes.find((q) => q.pid === p.pid);
      if (!seen || seen.cpu_percent === null || seen.cpu_percent < t.runaway_cpu_percent) break;
      earliest = history[i]!.timestamp;
    }
    const duration = current.timestamp - earliest;
    if (duration >= t.runaway_duration_seconds) {
      found.push({
        anomaly_type: 'runaway_process',
        severity: 'critical',
        pid: p.pid,
        ...tag(p),
        description: `PID ${p.pid} at ${Math.round(p.cpu_percent)}% CPU for ${Math.round(duration)}s (threshold: ${t.runaway_cpu_percent}% for ${t.runaway_duration_seconds}s)`,
        metric_value: r1(p.cpu_percent),
        threshold: t.runaway_cpu_percent,
      });
    }
  }

  if (current.zombie_count > 0) {
    found.push({
      anomaly_type: 'zombie',
      severity: 'high',
      pid: current.zombie_pids[0] ?? null,
      job_id: null,
      sheet_num: null,
      description: `${current.zombie_count} zombie process(es) detected: PIDs [${current.zombie_pids.join(', ')}]`,
      metric_value: current.zombie_count,
      threshold: 0,
    });
  }

  for (const p of current.processes) {
    if (p.open_fds !== null && p.open_fds >= t.fd_limit) {
      found.push({
        anomaly_type: 'fd_exhaustion',
        severity: 'high',
        pid: p.pid,
        ...tag(p),
        description: `PID ${p.pid} has ${p.open_fds} open file descriptors (threshold ${t.fd_limit})`,
        metric_value: p.open_fds,
        threshold: t.fd_limit,
      });
    }
  }

  const total = current.system_memory_total_mb;
  if (total > 0 && current.system_memory_available_mb / total < t.system_memory_available_fraction) {
    found.push({
      anomaly_type: 'system_memory_low',
      severity: 'critical',
      pid: null,
      job_id: null,
      sheet_num: null,
      description: `system memory low: ${r1(current.system_memory_available_mb)} MB available of ${r1(total)} MB`,
      metric_value: r1(current.system_memory_available_mb),
      threshold: r1(total * t.system_memory_available_fraction),
    });
  }
  return found;
}

/** Keeps recent history and reports anomalies once, when they begin. */
export class AnomalyTracker {
  private readonly history: SystemSnapshot[] = [];
  private active = new Set<string>();

  constructor(
    private readonly thresholds: AnomalyThresholds = DEFAULT_ANOMALY_THRESHOLDS,
    private readonly maxHistory = 120,
  ) {}

  observe(snapshot: SystemSnapshot): Anomaly[] {
    const all = detectAnomalies(snapshot, this.history, this.thresholds);
    this.history.push(snapshot);
    // Enough history for the longest window at the current interval, and never unbounded.
    const horizon = snapshot.timestamp - Math.max(this.thresholds.runaway_duration_seconds, this.thresholds.memory_spike_window_seconds) - 5;
    while (this.history.length > this.maxHistory || (this.history.length > 1 && this.history[0]!.timestamp < horizon)) this.history.shift();
    const now = new Set<string>();
    const fresh: Anomaly[] = [];
    for (const a of all) {
      const key = `${a.anomaly_type}:${a.pid ?? ''}`;
      now.add(key);
      if (!this.active.has(key)) fresh.push(a);
    }
    this.active = now;
    return fresh;
  }
}
