/**
 * One sheet as a child process in its own process group (`detached`), so that cancel and
 * timeout reach the whole tree: SIGTERM to the group, SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { ProcReader, runToEnd, type ProcStat } from '../probe/procReader.js';
import type { JobLog } from './jobLog.js';

export interface SheetRun {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutSeconds: number;
  killGraceSeconds: number;
  sheetNum: number;
  log: JobLog;
  /**
   * Told of every signal the conductor sends the sheet's group: cancel, timeout, escalation,
   * and 'leftovers' — what the sheet left running in its group when its main process exited.
   */
  onSignalSent?: (signal: NodeJS.Signals, why: 'timeout' | 'stopped' | 'leftovers') => void;
}

export interface SheetOutcome {
  exit_code: number | null;
  signal: string | null;
  duration_seconds: number;
  /** Why the sheet ended other than by itself. */
  reason?: 'timeout' | 'stopped' | 'spawn_error';
  error?: string;
}

export interface SheetHandle {
  pid: number | undefined;
  /** Stop the whole process group: SIGTERM now, SIGKILL after the grace period. */
  stop(): void;
  /** SIGSTOP the sheet's tree and hold its timeout (the remaining time carries over). */
  pause(): void;
  /** SIGCONT the sheet's tree and run its timeout again for the time that was left. */
  resume(): void;
  done: Promise<SheetOutcome>;
}

export type SpawnSheet = (run: SheetRun) => SheetHandle;

/** The probe's /proc reader, made at the first sheet that leaves processes behind. */
let procReader: ProcReader | undefined;

/**
 * Processes of group `pgid` that are still alive: a zombie waiting for its parent to reap it is
 * still a member (kill() succeeds on it) but has nothing left to stop. Linux /proc; elsewhere, or
 * if /proc cannot be read, assume there are some.
 */
function liveGroupMembers(pgid: number): number {
  let stats: Map<number, ProcStat>;
  try {
    stats = runToEnd((procReader ??= new ProcReader()).readAllStatsSteps());
  } catch {
    return 1;
  }
  let live = 0;
  for (const stat of stats.values()) if (stat.pgid === pgid && stat.state !== 'Z') live++;
  return live;
}

/** True when the signal was delivered (false: the group is already gone). */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The kernel's count of OOM kills since boot (/proc/vmstat `oom_kill`), or null where it is
 * not available. A sheet killed by SIGKILL while this count rose was most likely OOM-killed.
 */
export function readOomKillCount(file = '/proc/vmstat'): number | null {
  try {
    const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export const spawnSheet: SpawnSheet = (run) => {
  const started = process.hrtime.bigint();
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000;
  const child = spawn(run.argv[0]!, run.argv.slice(1), {
    cwd: run.cwd,
    env: run.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let reason: SheetOutcome['reason'];
  let killTimer: NodeJS.Timeout | undefined;
  let paused = false;
  // The one place that signals the sheet's tree (pause, resume, stop).
  const signalTree = (signal: NodeJS.Signals) => child.pid !== undefined && signalGroup(child.pid, signal);
  const stopGroup = (why: 'timeout' | 'stopped') => {
    if (reason || child.pid === undefined) return;
    reason = why;
    if (signalTree('SIGTERM')) run.onSignalSent?.('SIGTERM', why);
    // A stopped tree cannot act on SIGTERM until it is continued.
    if (paused) {
      paused = false;
      signalTree('SIGCONT');
    }
    killTimer = setTimeout(() => {
      if (signalGroup(child.pid!, 'SIGKILL')) run.onSignalSent?.('SIGKILL', why);
    }, run.killGraceSeconds * 1000);
  };
  let timeoutLeftMs = run.timeoutSeconds * 1000;
  let timeoutSetAt = Date.now();
  let timeout: NodeJS.Timeout | undefined = setTimeout(() => stopGroup('timeout'), timeoutLeftMs);
  const pause = () => {
    if (paused || reason || child.pid === undefined) return;
    paused = true;
    clearTimeout(timeout);
    timeout = undefined;
    timeoutLeftMs = Math.max(0, timeoutLeftMs - (Date.now() - timeoutSetAt));
    signalTree('SIGSTOP');
  };
  const resume = () => {
    if (!paused) return;
    paused = false;
    signalTree('SIGCONT');
    timeoutSetAt = Date.now();
    timeout = setTimeout(() => stopGroup('timeout'), timeoutLeftMs);
  };

  const done = new Promise<SheetOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: SheetOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      if (killTimer) clearTimeout(killTimer);
      resolve(outcome);
    };
    child.on('error', (error) => {
      // Spawn failures (ENOENT, EACCES, bad cwd) leave no pid; they end the sheet at once.
      if (child.pid === undefined) {
        settle({ exit_code: null, signal: null, duration_seconds: elapsed(), reason: 'spawn_error', error: error.message });
      }
    });
    const out = child.stdout ? run.log.follow(child.stdout, run.sheetNum, 'out') : Promise.resolve();
    const err = child.stderr ? run.log.follow(child.stderr, run.sheetNum, 'err') : Promise.resolve();
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // The sheet is its main process: what it left running in its group goes with it
      // (and until it does, those processes would hold the pipes open).
      if (child.pid === undefined) return;
      const pid = child.pid;
      if (reason) {
        // The conductor is stopping the group already (and records that); whatever is left once
        // the grace period is over goes too, even if the sheet has settled by then.
        setTimeout(() => signalGroup(pid, 'SIGKILL'), run.killGraceSeconds * 1000).unref();
        return;
      }
      // Reported only when the group has live members (signal 0 first: an empty group, the
      // usual case, costs no /proc scan).
      const leftovers = () => signalGroup(pid, 0) && liveGroupMembers(pid) > 0;
      if (leftovers() && signalGroup(pid, 'SIGTERM')) run.onSignalSent?.('SIGTERM', 'leftovers');
      setTimeout(() => {
        if (leftovers() && signalGroup(pid, 'SIGKILL')) run.onSignalSent?.('SIGKILL', 'leftovers');
      }, run.killGraceSeconds * 1000).unref();
    });
    // 'close' comes after exit and after every stdio stream of the group has ended.
    child.on('close', (code, signal) => {
      const result = exit ?? { code, signal };
      void Promise.all([out, err]).then(() =>
        settle({ exit_code: result.code, signal: result.signal, duration_seconds: elapsed(), ...(reason ? { reason } : {}) }),
      );
    });
  });
  return { pid: child.pid, stop: () => stopGroup('stopped'), pause, resume, done };
};
