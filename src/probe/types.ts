/**
 * The shapes the system probe returns. Field names follow Marianne's SystemSnapshot and
 * ProcessMetric (SEED-NOTES §3.1) so `mzt top --json` and monitor.jsonl keep their shape.
 *
 * A value the probe could not measure is `null` ("unknown"), never a made-up zero:
 * Marianne's always-zero CPU column is the fault this avoids.
 */

/** Which job and sheet a process works for. A tag applies to a process and all its descendants. */
export interface ProcessTag {
  job_id: string;
  sheet_num: number | null;
}

export interface ProcessMetric {
  pid: number;
  ppid: number;
  /** argv joined by spaces (truncated), or the kernel's `comm` when argv is empty. */
  command: string;
  /** One letter, as `ps` shows it: R running, S sleeping, D disk wait, Z zombie, T stopped, ... */
  state: string;
  /** 100 = one full core (like top). null until the process has been seen in two samples. */
  cpu_percent: number | null;
  rss_mb: number;
  vms_mb: number;
  /** null when the source cannot tell (the systeminformation fallback). */
  threads: number | null;
  /** Open file descriptors, refreshed for a rotating subset each sample; null until first counted or unreadable. */
  open_fds: number | null;
  /** null only from the fallback, when the start time cannot be parsed. */
  age_seconds: number | null;
  job_id: string | null;
  sheet_num: number | null;
  /** GPU memory the process holds (nvidia-smi compute apps); absent when it holds none or it is unknown. */
  gpu_memory_mb?: number;
}

export interface GpuMetric {
  index: number;
  name: string;
  utilization_pct: number | null;
  memory_used_mb: number | null;
  memory_total_mb: number | null;
  temperature_c: number | null;
}

/** CPU time consumed by the processes of one tag, exited descendants included. */
export interface TagCpu extends ProcessTag {
  cpu_seconds: number;
  /** The part of cpu_seconds used by processes that no longer exist. */
  exited_cpu_seconds: number;
}

export type ProbeSource = 'proc' | 'systeminformation';

/** The whole machine's figures, as a probe sample and a snapshot both carry them. */
export interface MachineFigures {
  system_memory_total_mb: number;
  system_memory_available_mb: number;
  system_memory_used_mb: number;
  load_avg_1: number;
  load_avg_5: number;
  load_avg_15: number;
  cpu_count: number;
  /** Busy share of all cores, 0..100; null on the first sample (needs a delta). */
  system_cpu_percent: number | null;
}

export interface ProbeSample extends MachineFigures {
  ok: true;
  source: ProbeSource;
  /** Unix epoch seconds at the start of the sample. */
  timestamp: number;
  /** Descendants of the root (the root included), zombies excluded. */
  processes: ProcessMetric[];
  zombie_count: number;
  zombie_pids: number[];
  root: { pid: number; cpu_percent: number | null; rss_mb: number };
  /** Per-tag CPU seconds, cumulative since the probe first saw the tag. Empty for the fallback. */
  tag_cpu: TagCpu[];
  gpus: GpuMetric[];
  /** Wall time of the whole sample (including awaited GPU/fallback work). */
  sample_duration_ms: number;
  /**
   * Longest time the sample blocked the event loop with synchronous reads (the whole sample
   * unless it is spread over turns, see SystemProbeOptions.sliceMs); null when not measured (fallback).
   */
  blocking_ms: number | null;
  /** Sum of the sample's synchronous stretches (its own cost on this thread); null when not measured. */
  busy_ms?: number | null;
}

/** A sample that could not be taken: everything is unknown, and `error` says why. */
export interface ProbeFailure {
  ok: false;
  source: ProbeSource;
  timestamp: number;
  error: string;
  sample_duration_ms: number;
}

export type ProbeResult = ProbeSample | ProbeFailure;

/**
 * What the profiler samples from: SystemProbe, or a scripted one in tests. `sample()` never
 * rejects; failures come back as `{ok: false, error}`.
 */
export interface SampleSource {
  sample(rootPid: number, tags?: ReadonlyMap<number, ProcessTag>): Promise<ProbeResult>;
  close?(): Promise<void>;
}
