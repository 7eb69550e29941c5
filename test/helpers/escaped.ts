/** Helpers for tests of processes that escape a sheet (setsid). */
import fs from 'node:fs';
import { waitFor } from './conductorProcess.js';

/** State and start time (clock ticks after boot) from /proc/<pid>/stat, or undefined when gone. */
function statOf(pid: number): { state: string; session: number; startTicks: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, session: Number(fields[6 - 3]), startTicks: Number(fields[22 - 3]) };
  } catch {
    return undefined;
  }
}

/** The state letter of a process (R, S, T, Z…), or undefined when it is gone. */
export function processState(pid: number): string | undefined {
  return statOf(pid)?.state;
}

/**
 * Whether a process exists and is not a zombie. Killed processes that escaped to PID 1 stay
 * zombies where PID 1 does not reap (as in this machine's VM init): gone for our purposes.
 */
export function liveProcess(pid: number): boolean {
  const stat = statOf(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** pid → start time of every process a test learnt about, for killEscaped(). */
const tracked = new Map<number, number>();

/** Remembers a process (pid + start time) so that killEscaped() can clean it up. */
export function track(pid: number): number {
  const stat = statOf(pid);
  if (stat) tracked.set(pid, stat.startTicks);
  return pid;
}

/** Waits for a sheet to write a pid into `file`, and returns it (tracked). */
export async function readPidFile(file: string, timeoutMs = 10_000): Promise<number> {
  const pid = await waitFor(() => {
    try {
      return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  }, timeoutMs, `a pid in ${file}`);
  return track(pid);
}

/**
 * Waits until `pid` leads its own session (its `setsid` ran: before that it is still in the
 * sheet's group, and a signal to the group would stop it as an ordinary member).
 */
export async function escapedSession(pid: number, timeoutMs = 10_000): Promise<number> {
  return waitFor(() => (statOf(pid)?.session === pid ? pid : 0), timeoutMs, `process ${pid} to lead its own session`);
}

/** SIGKILLs what a failed test left running of the tracked processes (same pid and start time only). */
export function killEscaped(): void {
  for (const [pid, startTicks] of tracked) {
    tracked.delete(pid);
    const stat = statOf(pid);
    if (!stat || stat.state === 'Z' || stat.startTicks !== startTicks) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
