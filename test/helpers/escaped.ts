/** Helpers for tests of processes that escape a sheet (setsid). */
import fs from 'node:fs';
import { waitFor } from './conductorProcess.js';

/**
 * Whether a process exists and is not a zombie. Killed processes that escaped to PID 1 stay
 * zombies where PID 1 does not reap (as in some containers): they are gone for our purposes.
 */
export function liveProcess(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const seen: number[] = [];

/** Waits for a sheet to write a pid into `file`, and returns it (killEscaped() cleans it up). */
export async function readPidFile(file: string, timeoutMs = 10_000): Promise<number> {
  const pid = await waitFor(() => {
    try {
      return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  }, timeoutMs, `a pid in ${file}`);
  seen.push(pid);
  return pid;
}

/**
 * Waits until `pid` leads its own session (its `setsid` ran: before that it is still in the
 * sheet's group, and a signal to the group would stop it as an ordinary member).
 */
export async function escapedSession(pid: number, timeoutMs = 10_000): Promise<number> {
  return waitFor(() => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
      return session === pid ? pid : 0;
    } catch {
      return 0;
    }
  }, timeoutMs, `process ${pid} to lead its own session`);
}

/** SIGKILLs what a failed test left running of the processes read by readPidFile (only those). */
export function killEscaped(): void {
  for (const pid of seen.splice(0)) {
    if (!liveProcess(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
