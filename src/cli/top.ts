/**
 * `mzt top`: the conductor's live view — system line, pressure, jobs with progress, and the
 * process table tagged by job — from `monitor.snapshot` over the socket.
 */
import type { DaemonClient } from '../ipc/client.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';
import { duration, table } from './output.js';

export type TopSort = 'cpu' | 'mem' | 'pid' | 'job';

function fmt(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined ? '?' : n.toFixed(digits);
}

export function renderTop(s: SystemSnapshot, sort: TopSort, maxRows: number): string {
  const lines: string[] = [];
  lines.push(
    `mzt top — conductor pid ${s.daemon_pid}, up ${duration(s.conductor_uptime_seconds)} · load ${fmt(s.load_avg_1, 2)} ${fmt(s.load_avg_5, 2)} ${fmt(s.load_avg_15, 2)} · ` +
      `mem ${fmt(s.system_memory_used_mb, 0)}/${fmt(s.system_memory_total_mb, 0)} MB · cpu ${fmt(s.system_cpu_percent)}% of ${s.cpu_count} cores`,
  );
  lines.push(
    `pressure ${s.pressure_level.toUpperCase()} · jobs ${s.running_jobs} running · sheets ${s.active_sheets} · zombies ${s.zombie_count} · ` +
      `conductor ${fmt(s.conductor.cpu_percent)}% cpu ${fmt(s.conductor.rss_mb)} MB · sample ${fmt(s.conductor.sample_cost_ms)} ms every ${s.conductor.interval_seconds}s`,
  );
  for (const g of s.gpus) {
    lines.push(`gpu ${g.index} ${g.name}: ${fmt(g.utilization_pct, 0)}% · ${fmt(g.memory_used_mb, 0)}/${fmt(g.memory_total_mb, 0)} MB · ${fmt(g.temperature_c, 0)}°C`);
  }
  if (s.job_progress.length > 0) {
    lines.push('');
    const bar = (done: number, total: number) => {
      const width = 20;
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    };
    lines.push(
      table(
        ['JOB', 'STATUS', 'PROGRESS', 'SHEET'],
        s.job_progress.map((j) => [
          j.job_id,
          j.status,
          `${bar(j.last_completed_sheet, j.total_sheets)} ${j.last_completed_sheet}/${j.total_sheets}`,
          j.current_sheet === null ? '-' : String(j.current_sheet),
        ]),
      ),
    );
  }
  const procs = [...s.processes];
  const key: Record<TopSort, (p: (typeof procs)[number]) => number | string> = {
    cpu: (p) => -(p.cpu_percent ?? -1),
    mem: (p) => -p.rss_mb,
    pid: (p) => p.pid,
    job: (p) => `${p.job_id ?? '~'}:${String(p.sheet_num ?? 0).padStart(4, '0')}:${p.pid}`,
  };
  procs.sort((a, b) => {
    const ka = key[sort](a);
    const kb = key[sort](b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  lines.push('');
  lines.push(
    table(
      ['PID', 'PPID', 'JOB', 'SHEET', 'S', 'CPU%', 'RSS MB', 'THR', 'FDS', 'AGE', 'COMMAND'],
      procs.slice(0, maxRows).map((p) => [
        String(p.pid),
        String(p.ppid),
        p.job_id ?? '-',
        p.sheet_num === null ? '-' : String(p.sheet_num),
        p.state,
        fmt(p.cpu_percent),
        fmt(p.rss_mb),
        p.threads === null ? '?' : String(p.threads),
        p.open_fds === null ? '?' : String(p.open_fds),
        p.age_seconds === null ? '?' : duration(p.age_seconds),
        p.command.slice(0, 60),
      ]),
    ),
  );
  if (procs.length > maxRows) lines.push(`(${procs.length - maxRows} more processes)`);
  return lines.join('\n');
}

/** Refresh until interrupted; redraws in place on a terminal, appends otherwise. */
export async function runTop(client: DaemonClient, opts: { intervalSeconds: number; sort: TopSort; once: boolean; json: boolean }): Promise<void> {
  for (;;) {
    const snapshot = (await client.call('monitor.snapshot', {})) as SystemSnapshot;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(snapshot)}\n`);
    } else {
      const rows = Math.max(5, (process.stdout.rows ?? 40) - 12);
      const text = renderTop(snapshot, opts.sort, rows);
      process.stdout.write(process.stdout.isTTY && !opts.once ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
    }
    if (opts.once) return;
    await new Promise((r) => setTimeout(r, opts.intervalSeconds * 1000));
  }
}
