/**
 * A job's resource report, from the cost ledger and the event log: the text Marianne's
 * `generate_resource_report` produces (for people and AI agents) and the same as JSON — with
 * real CPU figures, exited descendants included.
 */
import type { JobRecord } from '../events/jobRecord.js';
import type { DurableEvent } from '../events/types.js';
import type { LedgerSheetCost } from '../monitor/snapshot.js';

export interface ResourceReport {
  job_id: string;
  status: string | null;
  available: boolean;
  peak_rss_mb: number;
  /** Highest GPU memory held by the job's processes at once (the highest of its sheets' peaks); null when never seen on a GPU. */
  gpu_memory_peak_mb: number | null;
  total_cpu_seconds: number;
  exited_cpu_seconds: number;
  unique_pid_count: number;
  process_spawn_count: number;
  process_exit_count: number;
  /** Signals the conductor sent (SIGTERM on cancel/timeout, SIGKILL after the grace period). */
  process_kill_count: number;
  sheet_metrics: Record<string, { peak_rss_mb: number; max_cpu_percent: number; cpu_seconds: number }>;
  signals: Array<{ sheet_num: number; signal: string; by_conductor: boolean }>;
  oom_kills: number;
  text_report: string;
}

const f1 = (n: number) => n.toFixed(1);

export function buildResourceReport(jobId: string, job: JobRecord | undefined, costs: LedgerSheetCost[], events: DurableEvent[]): ResourceReport {
  const spawns = events.filter((e) => e.type === 'process.spawn').length;
  const exits = events.filter((e) => e.type === 'process.exit').length;
  const signals: ResourceReport['signals'] = [];
  const signalEvents = events.filter((e) => e.type === 'process.signal');
  const kills = events.filter((e) => e.type === 'process.kill').length;
  let oom: number;
  if (signalEvents.length > 0 || events.some((e) => e.type === 'process.kill' || e.type === 'process.oom')) {
    for (const e of signalEvents) {
      signals.push({ sheet_num: e.sheet_num ?? 0, signal: String(e.data.signal), by_conductor: e.data.by_conductor === true });
    }
    oom = events.filter((e) => e.type === 'process.oom').length;
  } else {
    // Jobs recorded before process.signal existed: derive from the sheets.
    for (const s of job?.sheets ?? []) {
      if (!s.signal) continue;
      const byConductor = ['cancelled', 'timed_out', 'interrupted'].includes(s.status);
      signals.push({ sheet_num: s.sheet_num, signal: s.signal, by_conductor: byConductor });
    }
    oom = signals.filter((s) => s.signal === 'SIGKILL' && !s.by_conductor).length;
  }
  const sheetMetrics: ResourceReport['sheet_metrics'] = {};
  for (const c of costs) {
    if (c.sheet_num === null) continue;
    sheetMetrics[String(c.sheet_num)] = {
      peak_rss_mb: Math.round(c.peak_rss_mb * 10) / 10,
      max_cpu_percent: Math.round(c.max_cpu_percent),
      cpu_seconds: Math.round(c.cpu_seconds * 100) / 100,
    };
  }
  const peak = costs.reduce((m, c) => Math.max(m, c.peak_rss_mb), 0);
  const gpuPeaks = costs.map((c) => c.gpu_memory_peak_mb).filter((g): g is number => g !== null && g !== undefined);
  const gpuPeak = gpuPeaks.length > 0 ? Math.max(...gpuPeaks) : null;
  const cpu = costs.reduce((n, c) => n + c.cpu_seconds, 0);
  const exited = costs.reduce((n, c) => n + c.exited_cpu_seconds, 0);
  const pids = costs.reduce((n, c) => n + c.pids_seen, 0);
  const available = costs.length > 0;

  const lines = [`Resource Profile for job '${jobId}':`];
  if (!available) {
    lines.push('  No profiler data available.');
  } else {
    lines.push(`  Peak memory: ${f1(peak)} MB`);
    if (gpuPeak !== null) lines.push(`  Peak GPU memory: ${f1(gpuPeak)} MB`);
    lines.push(`  CPU time: ${f1(cpu)} s (${f1(exited)} s in processes that had already exited)`);
    lines.push(`  Process spawns: ${spawns}`);
    lines.push(`  Unique PIDs observed: ${pids}`);
    const sheets = Object.keys(sheetMetrics).map(Number).sort((a, b) => a - b);
    if (sheets.length > 0) {
      lines.push('', '  Per-sheet resource peaks:');
      for (const n of sheets) {
        const m = sheetMetrics[String(n)]!;
        lines.push(`    Sheet ${n}: peak RSS ${f1(m.peak_rss_mb)} MB, max CPU ${m.max_cpu_percent}%, CPU time ${f1(m.cpu_seconds)} s`);
      }
    }
  }
  lines.push(`  Signals received: ${signals.length}`);
  for (const s of signals.slice(0, 10)) lines.push(`    Sheet ${s.sheet_num}: ${s.signal}${s.by_conductor ? ' (sent by the conductor)' : ''}`);
  lines.push(`  OOM events: ${oom}`);
  if (spawns > 0 || kills > 0) lines.push(`  Process lifecycle: ${spawns} spawns, ${exits} exits, ${kills} signals sent by the conductor`);
  lines.push('');

  return {
    job_id: jobId,
    status: job?.status ?? null,
    available,
    peak_rss_mb: Math.round(peak * 10) / 10,
    gpu_memory_peak_mb: gpuPeak === null ? null : Math.round(gpuPeak * 10) / 10,
    total_cpu_seconds: Math.round(cpu * 100) / 100,
    exited_cpu_seconds: Math.round(exited * 100) / 100,
    unique_pid_count: pids,
    process_spawn_count: spawns,
    process_exit_count: exits,
    process_kill_count: kills,
    sheet_metrics: sheetMetrics,
    signals,
    oom_kills: oom,
    text_report: lines.join('\n'),
  };
}
