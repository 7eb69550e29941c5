/**
 * How the CLI shows a job's cost (job.get / job.list `cost`, snapshot `job_costs`): CPU% of one
 * core, RSS and CPU time, with "-" where there is nothing to show (queued, or ended: nothing
 * runs, so no CPU% or RSS now) — never a made-up zero.
 */
import type { CostFigures } from '../monitor/snapshot.js';

export function cpuPercentText(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** Megabytes as a short size: 812M, 1.6G. */
export function memText(mb: number | null | undefined): string {
  if (mb === null || mb === undefined) return '-';
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)}G`;
  return `${mb >= 10 ? mb.toFixed(0) : mb.toFixed(1)}M`;
}

/** CPU seconds as time: 4.2s, 3m07s, 2h05m. */
export function cpuTimeText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** CPU%, RSS, CPU time cells of a job row: live for an active job, "-" for CPU%/RSS once it ended. */
export function costCells(cost: CostFigures | null | undefined, active: boolean): [string, string, string] {
  if (!cost) return ['-', '-', '-'];
  return [active ? cpuPercentText(cost.cpu_percent) : '-', active ? memText(cost.rss_mb) : '-', cpuTimeText(cost.cpu_seconds)];
}
