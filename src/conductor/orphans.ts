/**
 * Sheets that were running when a previous conductor died keep running in their own
 * process groups (they were started detached). On restart their jobs are closed as
 * interrupted, and their process groups are stopped — but only after proving the pid is
 * still the same process (group leader, started when the sheet started), since pids get
 * reused.
 */
import fs from 'node:fs';
import type { JobRecord } from '../events/jobRecord.js';

const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ on every mainstream architecture

function bootTimeSeconds(): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** pgid and start time (epoch seconds) of a live pid, from /proc/<pid>/stat. */
function processIdentity(pid: number, bootTime: number): { pgid: number; startedAt: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name, which may itself contain spaces and parentheses.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgid = Number(rest[2]);
  const startTicks = Number(rest[19]);
  if (!Number.isFinite(pgid) || !Number.isFinite(startTicks)) return undefined;
  return { pgid, startedAt: bootTime + startTicks / CLOCK_TICKS_PER_SECOND };
}

/**
 * Send SIGTERM now and SIGKILL after `graceSeconds` to the process groups of sheets that
 * the record says were running. Returns the pids signalled.
 */
export function stopOrphanedSheets(jobs: JobRecord[], graceSeconds: number, log: (msg: string) => void): number[] {
  const bootTime = bootTimeSeconds();
  if (bootTime === undefined) return [];
  const signalled: number[] = [];
  for (const job of jobs) {
    for (const sheet of job.sheets) {
      if (sheet.status !== 'running' || !sheet.pid || sheet.started_at === undefined) continue;
      const id = processIdentity(sheet.pid, bootTime);
      // Same process: it leads its own group and started within a few seconds of the sheet.
      if (!id || id.pgid !== sheet.pid || Math.abs(id.startedAt - sheet.started_at) > 5) continue;
      try {
        process.kill(-sheet.pid, 'SIGTERM');
        signalled.push(sheet.pid);
        log(`stopping orphaned sheet ${job.job_id}#${sheet.sheet_num} (process group ${sheet.pid})`);
      } catch {
        continue;
      }
      const pgid = sheet.pid;
      setTimeout(() => {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, graceSeconds * 1000).unref();
    }
  }
  return signalled;
}
