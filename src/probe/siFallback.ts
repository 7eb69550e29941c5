/**
 * Portable fallback when /proc is absent: systeminformation. About 20x costlier than /proc
 * (it shells out for the whole machine), and it cannot tell threads, open fds or reaped
 * children's CPU, so those are null (unknown) and no per-tag CPU is accounted.
 */
import { loadavg } from 'node:os';
import si from 'systeminformation';
import type { ProcessMetric } from './types.js';

export interface FallbackReading {
  memory: { totalMb: number; availableMb: number; usedMb: number };
  load: [number, number, number];
  cpuCount: number;
  systemCpuPercent: number | null;
  /** Descendants of the root (root included), zombies included, each with its parent pid. */
  processes: ProcessMetric[];
}

const MB = 1024 * 1024;

const STATE_LETTERS: Record<string, string> = {
  running: 'R',
  sleeping: 'S',
  blocked: 'D',
  zombie: 'Z',
  stopped: 'T',
  idle: 'I',
};

export async function readWithSystemInformation(rootPid: number, commandMaxChars: number): Promise<FallbackReading> {
  const [list, mem, load] = await Promise.all([si.processes(), si.mem(), si.currentLoad()]);
  const byParent = new Map<number, si.Systeminformation.ProcessesProcessData[]>();
  const root = list.list.find((p) => p.pid === rootPid);
  if (!root) throw new Error(`root process ${rootPid} is not in the process list`);
  for (const proc of list.list) {
    const siblings = byParent.get(proc.parentPid);
    if (siblings) siblings.push(proc);
    else byParent.set(proc.parentPid, [proc]);
  }
  const found: si.Systeminformation.ProcessesProcessData[] = [];
  const seen = new Set<number>();
  const pending = [root];
  while (pending.length > 0) {
    const proc = pending.pop()!;
    if (seen.has(proc.pid)) continue;
    seen.add(proc.pid);
    found.push(proc);
    pending.push(...(byParent.get(proc.pid) ?? []));
  }
  const nowMs = Date.now();
  const processes = found.map((proc): ProcessMetric => {
    const started = Date.parse(proc.started.replace(' ', 'T'));
    const command = [proc.command, proc.params].filter(Boolean).join(' ') || proc.name;
    return {
      pid: proc.pid,
      ppid: proc.parentPid,
      command: command.slice(0, commandMaxChars),
      state: STATE_LETTERS[proc.state] ?? (proc.state.charAt(0).toUpperCase() || '?'),
      cpu_percent: Number.isFinite(proc.cpu) ? proc.cpu : null,
      rss_mb: proc.memRss / 1024, // systeminformation reports kB
      vms_mb: proc.memVsz / 1024,
      threads: null,
      open_fds: null,
      age_seconds: Number.isFinite(started) ? Math.max(0, (nowMs - started) / 1000) : null,
      job_id: null,
      sheet_num: null,
    };
  });
  return {
    memory: { totalMb: mem.total / MB, availableMb: mem.available / MB, usedMb: (mem.total - mem.available) / MB },
    load: loadavg() as [number, number, number],
    cpuCount: load.cpus.length,
    systemCpuPercent: Number.isFinite(load.currentLoad) ? load.currentLoad : null,
    processes,
  };
}
