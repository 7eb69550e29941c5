/**
 * Sheets that were running when a previous conductor died keep running in their own process
 * groups (they were started detached). On restart their jobs are closed as interrupted, and
 * what is left of their groups is stopped: SIGTERM, then SIGKILL after the grace period.
 *
 * Which processes: those in the sheet's process group (pgid = the sheet's recorded pid) that
 * started at or after the sheet did (/proc/<pid>/stat). This holds when the group's leader
 * has exited and members live on: the kernel does not hand out a pid while a process group
 * of that number exists, so live members of group P are still the sheet's. When a process
 * P is alive but started at another time than the sheet, P was reused: the group is not the
 * sheet's and nothing is signalled.
 *
 * Across restarts: the stops not yet finished with SIGKILL are kept in the store (a note
 * written before the SIGTERM). A conductor restarted within the grace period finds them and
 * sends SIGKILL at once. Every signal is recorded as `process.kill` with reason `orphan`.
 *
 * What cannot be told apart: the whole group died while the conductor was down, pid P was
 * handed out again, and the new group's leader exited too, leaving members that started
 * after the sheet. Sheets of an earlier boot are never matched.
 */
import type { JobRecord } from '../events/jobRecord.js';
import type { NewEvent } from '../events/types.js';
import { ProcReader, runToEnd, type ProcStat } from '../probe/procReader.js';
import fs from 'node:fs';

const NOTE = 'orphan_stops';
/** Start times from /proc are exact to a tick, but boot time (btime) only to a second. */
const START_SLACK_SECONDS = 2;
/** How far the leader's start may be from the recorded sheet start and still be the same process. */
const LEADER_MATCH_SECONDS = 5;

function readBootTime(): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A stop under way: SIGTERM sent, SIGKILL due at `kill_at` (epoch seconds). */
export interface OrphanStop {
  job_id: string;
  sheet_num: number;
  pgid: number;
  started_at: number;
  kill_at: number;
}

export interface OrphanDeps {
  /** Jobs the log says were queued or running when the previous conductor died. */
  jobs: JobRecord[];
  graceSeconds: number;
  log(msg: string): void;
  /** Durable event append (synchronous at start; errors are logged by the caller). */
  record(event: NewEvent): void;
  readNote(key: string): string | undefined;
  writeNote(key: string, value: string | undefined): void;
  now?: () => number;
  readProcesses?: () => Map<number, ProcStat>;
}

export interface OrphanStopper {
  /** Stops under way. */
  readonly pending: readonly OrphanStop[];
  /** Wait for the remaining grace period (at most) and send the SIGKILLs due (the conductor stops). */
  finish(): Promise<void>;
}

/** The members of a sheet's group that are its orphans (see the header), zombies left out. */
export function orphansOf(stop: { pgid: number; started_at: number }, procs: Map<number, ProcStat>, bootTime: number, ticksPerSecond: number): number[] {
  const startedAt = (s: ProcStat) => bootTime + s.startTicks / ticksPerSecond;
  // A sheet of an earlier boot: its group is gone, and P may be anyone's now.
  if (stop.started_at < bootTime - START_SLACK_SECONDS) return [];
  const leader = procs.get(stop.pgid);
  if (leader && leader.state !== 'Z' && Math.abs(startedAt(leader) - stop.started_at) > LEADER_MATCH_SECONDS) return [];
  const out: number[] = [];
  for (const s of procs.values()) {
    if (s.pgid === stop.pgid && s.state !== 'Z' && startedAt(s) >= stop.started_at - START_SLACK_SECONDS) out.push(s.pid);
  }
  return out;
}

function parseNote(text: string | undefined, log: (msg: string) => void): OrphanStop[] {
  if (!text) return [];
  try {
    const list = JSON.parse(text) as OrphanStop[];
    return Array.isArray(list) ? list.filter((s) => Number.isInteger(s?.pgid) && s.pgid > 1 && typeof s.job_id === 'string') : [];
  } catch {
    log(`ignoring an unreadable ${NOTE} note`);
    return [];
  }
}

/** Find and signal the orphans; returns a handle that finishes the stops after the grace period. */
export function stopOrphans(deps: OrphanDeps): OrphanStopper {
  const now = deps.now ?? (() => Date.now() / 1000);
  const reader = new ProcReader();
  const bootTime = readBootTime();
  const readProcesses = deps.readProcesses ?? (() => runToEnd(reader.readAllStatsSteps()));
  let pending = parseNote(safe(() => deps.readNote(NOTE), deps.log), deps.log);
  if (bootTime === undefined) return { pending: [], finish: async () => undefined };
  const save = () => safe(() => deps.writeNote(NOTE, pending.length ? JSON.stringify(pending) : undefined), deps.log);

  const signal = (stop: OrphanStop, sig: 'SIGTERM' | 'SIGKILL', procs: Map<number, ProcStat>): number => {
    const pids = orphansOf(stop, procs, bootTime, reader.ticksPerSecond);
    if (pids.length === 0) return 0;
    const members = [...procs.values()].filter((s) => s.pgid === stop.pgid && s.state !== 'Z').length;
    // The whole group when every member is the sheet's (catches what forks meanwhile); else one by one.
    const targets = members === pids.length ? [-stop.pgid] : pids;
    let sent = 0;
    for (const t of targets) {
      try {
        process.kill(t, sig);
        sent++;
      } catch {
        /* gone meanwhile */
      }
    }
    if (sent === 0) return 0;
    // A sheet left paused (SIGSTOP, state T) cannot act on SIGTERM until it is continued.
    if (sig === 'SIGTERM' && pids.some((pid) => procs.get(pid)?.state === 'T')) {
      for (const t of targets) {
        try {
          process.kill(t, 'SIGCONT');
        } catch {
          /* gone meanwhile */
        }
      }
    }
    deps.log(`${sig === 'SIGTERM' ? 'stopping' : 'killing'} orphaned sheet ${stop.job_id}#${stop.sheet_num} (process group ${stop.pgid}, ${pids.length} process(es)) with ${sig}`);
    safe(
      () =>
        deps.record({
          type: 'process.kill',
          job_id: stop.job_id,
          sheet_num: stop.sheet_num,
          data: { pid: stop.pgid, pgid: stop.pgid, signal: sig, reason: 'orphan' },
        }),
      deps.log,
    );
    return pids.length;
  };

  let procs = safe(readProcesses, deps.log) ?? new Map<number, ProcStat>();
  // Stops a previous conductor began: SIGTERM was sent; whatever is left gets SIGKILL now.
  for (const stop of pending) signal(stop, 'SIGKILL', procs);
  const killed = new Set(pending.map((s) => s.pgid));
  const hadNote = pending.length > 0;
  pending = [];
  const fresh: OrphanStop[] = [];
  for (const job of deps.jobs) {
    for (const sheet of job.sheets) {
      if (sheet.status !== 'running' || !sheet.pid || sheet.pid <= 1 || sheet.started_at === undefined || killed.has(sheet.pid)) continue;
      const stop = { job_id: job.job_id, sheet_num: sheet.sheet_num, pgid: sheet.pid, started_at: sheet.started_at, kill_at: now() + deps.graceSeconds };
      if (orphansOf(stop, procs, bootTime, reader.ticksPerSecond).length > 0) fresh.push(stop);
    }
  }
  // Written before the SIGTERMs: a conductor that dies right after still finishes them.
  pending = fresh;
  if (hadNote || fresh.length > 0) save();
  for (const stop of fresh) signal(stop, 'SIGTERM', procs);

  let timer: NodeJS.Timeout | undefined;
  let finished: Promise<void> | undefined;
  const killDue = () => {
    clearTimeout(timer);
    if (pending.length === 0) return;
    procs = safe(readProcesses, deps.log) ?? new Map();
    const due = pending.filter((s) => s.kill_at <= now() + 0.05);
    for (const stop of due) signal(stop, 'SIGKILL', procs);
    pending = pending.filter((s) => !due.includes(s));
    save();
  };
  if (pending.length > 0) {
    timer = setTimeout(killDue, deps.graceSeconds * 1000);
    timer.unref();
  }
  return {
    get pending() {
      return pending;
    },
    finish() {
      finished ??= new Promise<void>((resolve) => {
        const wait = Math.max(0, ...pending.map((s) => s.kill_at - now())) * 1000;
        clearTimeout(timer);
        setTimeout(() => {
          killDue();
          resolve();
        }, wait);
      });
      return finished;
    },
  };
}

function safe<T>(fn: () => T, log: (msg: string) => void): T | undefined {
  try {
    return fn();
  } catch (err) {
    log(`orphans: ${(err as Error).message}`);
    return undefined;
  }
}
