/**
 * Resource limits chosen from the machine, so the default does not shed ordinary work (a
 * `make -j` build, an agent CLI with its tool processes and MCP servers) on a workstation
 * while still catching a runaway. README's config table says why these numbers.
 */
import fs from 'node:fs';
import os from 'node:os';

/** At least this many processes, whatever the core count. */
export const MIN_DEFAULT_PROCESSES = 512;
/** Processes allowed per core: a parallel build runs ~4 per core, plus agents and their tools. */
export const PROCESSES_PER_CORE = 64;
/** Share of the machine's memory the conductor's tree may use (the rest: the OS, page cache, the desktop). */
export const MEMORY_SHARE = 0.75;

export interface Machine {
  cores: number;
  total_memory_mb: number;
  /** The soft RLIMIT_NPROC of the conductor's user; null when unlimited or unknown. */
  nproc_limit: number | null;
}

/** The soft "Max processes" of /proc/self/limits; null when unlimited or unreadable. */
export function readNprocLimit(file = '/proc/self/limits'): number | null {
  try {
    const m = /^Max processes\s+(\S+)/m.exec(fs.readFileSync(file, 'utf8'));
    const n = m ? Number(m[1]) : NaN;
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function thisMachine(): Machine {
  return {
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    total_memory_mb: os.totalmem() / 1048576,
    nproc_limit: readNprocLimit(),
  };
}

export function machineDefaults(m: Machine = thisMachine()): { max_processes: number; max_memory_mb: number } {
  let processes = Math.max(MIN_DEFAULT_PROCESSES, PROCESSES_PER_CORE * Math.max(1, m.cores));
  // The user's process limit (threads count against it too) is reached first otherwise: stay at half.
  if (m.nproc_limit !== null) processes = Math.min(processes, Math.max(1, Math.floor(m.nproc_limit / 2)));
  return { max_processes: processes, max_memory_mb: Math.max(1, Math.round(m.total_memory_mb * MEMORY_SHARE)) };
}
