/**
 * SystemSnapshot: what `monitor.snapshot`, `mzt top --json` and monitor.jsonl lines carry.
 * Field names follow Marianne's SystemSnapshot (SEED-NOTES §3.1); `conductor` adds the
 * watcher's own cost, which Marianne did not publish. Unknown values are null, never 0.
 */
import type { GpuMetric, MachineFigures, ProcessMetric } from '../probe/types.js';
import type { PressureLevel } from './pressure.js';

export interface JobProgress {
  job_id: string;
  total_sheets: number;
  last_completed_sheet: number;
  current_sheet: number | null;
  status: string;
}

export interface ConductorCost {
  cpu_percent: number | null;
  rss_mb: number;
  /** What the sample cost the conductor: its synchronous stretches (process CPU time when the probe cannot say). */
  sample_cost_ms: number;
  sample_duration_ms: number;
  /** Longest synchronous stretch of the sample on the event loop (it yields every 0.5 ms); null when not measured. */
  sample_blocking_ms: number | null;
  event_loop_delay_p99_ms: number;
  event_loop_delay_max_ms: number;
  interval_seconds: number;
}

export interface SystemSnapshot extends MachineFigures {
  timestamp: number;
  daemon_pid: number;
  daemon_rss_mb: number;
  daemon_cpu_percent: number | null;
  processes: ProcessMetric[];
  gpus: GpuMetric[];
  pressure_level: PressureLevel;
  running_jobs: number;
  active_sheets: number;
  zombie_count: number;
  zombie_pids: number[];
  job_progress: JobProgress[];
  conductor_uptime_seconds: number;
  conductor: ConductorCost;
  /** Per active job (running or paused), what its tree costs at this sample. */
  job_costs: JobCost[];
}

/**
 * What one job (or one of its sheets) costs at a sample: the one definition every surface
 * reads (`mzt jobs`, `mzt top`, the dashboard, /metrics, the resource monitor's blame).
 * Computed once per sample in the conductor from the tagged processes and the CPU tracker.
 */
export interface CostFigures {
  /** Sum over the tree now (100 = one core); null until the tree was seen in two samples. */
  cpu_percent: number | null;
  /** Sum of the tree's RSS now. */
  rss_mb: number;
  /** Live processes of the tree now (escaped ones included). */
  processes: number;
  /** CPU seconds so far, exited descendants included. */
  cpu_seconds: number;
  /** Highest rss_mb seen at one sample so far. */
  peak_rss_mb: number;
  /** GPU memory the tree holds now; null when unknown or none. */
  gpu_memory_mb: number | null;
}

export interface SheetCost extends CostFigures {
  sheet_num: number;
}

/**
 * A sheet's row of the cost ledger (storage/monitorStorage.ts): its figures over its whole
 * run, kept after the job ends. Defined here with the live figures it is read beside.
 */
export interface LedgerSheetCost {
  sheet_num: number | null;
  peak_rss_mb: number;
  cpu_seconds: number;
  exited_cpu_seconds: number;
  max_cpu_percent: number;
  pids_seen: number;
  /** Highest GPU memory the sheet's processes held at once; null when never known. */
  gpu_memory_peak_mb: number | null;
}

export interface JobCost extends CostFigures {
  job_id: string;
  sheets: SheetCost[];
}
