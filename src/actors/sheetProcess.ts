/**
 * One sheet as a child process in its own process group (`detached`), so that cancel and
 * timeout reach the whole tree: SIGTERM to the group, SIGKILL after a grace period. Processes
 * that left the group (escapedProcesses.ts) get the same, by pid.
 *
 * The sheet is its main process: when that exits, the pipes get PIPE_DRAIN_MS to deliver what is
 * still in flight, then whatever still holds them is cut off — a stray descendant never keeps a
 * sheet (or cancel, timeout, shutdown) waiting.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { runToEnd, type ProcStat } from '../probe/procReader.js';
import { SHEET_MARKER_VAR, type ProcIdentity } from '../probe/sheetMarker.js';
import { escalateLater } from './escalations.js';
import { escapedPauser, escapedStopper, procReader } from './escapedProcesses.js';
import type { JobLog } from './jobLog.js';

/** How long a sheet's pipes may stay open after its main process exited. */
export const PIPE_DRAIN_MS = 2000;

export interface SheetRun {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutSeconds: number;
  killGraceSeconds: number;
  sheetNum: number;
  log: JobLog;
  /** MZT_SHEET_ID for the sheet's environment: how its escaped processes are recognised. */
  marker?: string;
  /** Processes the profiler saw in this sheet's tree (pid + start time). */
  knownProcesses?: () => ProcIdentity[];
  /**
   * Told of every signal the conductor sends the sheet's group: cancel, timeout, escalation,
   * and 'leftovers' — what the sheet left running in its group when its main process exited.
   */
  onSignalSent?: (signal: NodeJS.Signals, why: 'timeout' | 'stopped' | 'leftovers') => void;
  /** Told of each round of signals to processes of the sheet outside its group. */
  onEscapedSignalled?: (signal: NodeJS.Signals, pids: number[]) => void;
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
  pause(by?: 'client' | 'resource_monitor'): void;
  /** SIGCONT the sheet's tree and run its timeout again for the time that was left. */
  resume(): void;
  done: Promise<SheetOutcome>;
}

export type SpawnSheet = (run: SheetRun) => SheetHandle;

/**
 * Processes of group `pgid` that are still alive: a zombie waiting for its parent to reap it is
 * still a member (kill() succeeds on it) but has nothing left to stop. Linux /proc; elsewhere, or
 * if /proc cannot be read, assume there are some.
 */
function liveGroupMembers(pgid: number): number {
  let stats: Map<number, ProcStat>;
  try {
    stats = runToEnd(procReader().readAllStatsSteps());
  } catch {
    return 1;
  }
  let live = 0;
  for (const stat of stats.values()) if (stat.pgid === pgid && stat.state !== 'Z') live++;
  return live;
}

/** Whether group `pgid` has live members (signal 0 first: an empty group costs no /proc scan). */
export function groupLeft(pgid: number): boolean {
  return signalGroup(pgid, 0) && liveGroupMembers(pgid) > 0;
}

/** True when the signal was delivered (false: the group is already gone). */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
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
    env: run.marker === undefined ? run.env : { ...run.env, [SHEET_MARKER_VAR]: run.marker },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let reason: SheetOutcome['reason'];
  let killTimer: NodeJS.Timeout | undefined;

  const stopEscapedRound = escapedStopper({ killGraceSeconds: run.killGraceSeconds, onSignalled: run.onEscapedSignalled });
  const stopEscaped = async (): Promise<void> => {
    if (child.pid !== undefined) await stopEscapedRound({ marker: run.marker, pgid: child.pid, known: run.knownProcesses });
  };

  let paused = false;
  // The one place that signals the sheet's tree (pause, resume, stop).
  const signalTree = (signal: NodeJS.Signals) => child.pid !== undefined && signalGroup(child.pid, signal);
  const escapedPause = escapedPauser();
  const stopGroup = (why: 'timeout' | 'stopped') => {
    if (reason || child.pid === undefined) return;
    reason = why;
    if (signalTree('SIGTERM')) run.onSignalSent?.('SIGTERM', why);
    // A stopped tree cannot act on SIGTERM until it is continued.
    if (paused) {
      paused = false;
      signalTree('SIGCONT');
      escapedPause.resume();
    }
    void stopEscaped().catch(() => undefined);
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
    // What left the group is found by a /proc scan, a moment later (bounded, sliced).
    void escapedPause.pause({ marker: run.marker, pgid: child.pid, known: run.knownProcesses }).catch(() => undefined);
  };
  const resume = () => {
    if (!paused) return;
    paused = false;
    signalTree('SIGCONT');
    escapedPause.resume();
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
    child.on('exit', (code, signal) => {
      if (child.pid === undefined) return;
      const pid = child.pid;
      if (reason) {
        // The conductor is stopping the group already (and records that); whatever is left once
        // the grace period is over goes too, even if the sheet has settled by then.
        escalateLater(run.killGraceSeconds * 1000, () => groupLeft(pid), () => signalGroup(pid, 'SIGKILL'));
      } else {
        // What the sheet left running in its group goes with it. Reported only when the group
        // has live members (signal 0 first: an empty group, the usual case, costs no /proc scan).
        if (groupLeft(pid) && signalGroup(pid, 'SIGTERM')) {
          run.onSignalSent?.('SIGTERM', 'leftovers');
          escalateLater(run.killGraceSeconds * 1000, () => groupLeft(pid), () => {
            if (groupLeft(pid) && signalGroup(pid, 'SIGKILL')) run.onSignalSent?.('SIGKILL', 'leftovers');
          });
        }
      }
      // Escaped ones too (a second round after a cancel: what was started since).
      const escapedStopped = stopEscaped().catch(() => undefined);
      void endAfterDrain(escapedStopped).then(() =>
        settle({ exit_code: code, signal, duration_seconds: elapsed(), ...(reason ? { reason } : {}) }),
      );
    });

    /** Waits for the pipes to end, at most PIPE_DRAIN_MS; then cuts them and says so in the log. */
    const endAfterDrain = async (escapedStopped: Promise<void>): Promise<void> => {
      let bound: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        Promise.all([out, err]).then(() => true),
        new Promise<boolean>((r) => (bound = setTimeout(() => r(false), PIPE_DRAIN_MS))),
      ]);
      clearTimeout(bound);
      if (!drained) {
        const open = [child.stdout, child.stderr].filter((s) => s && !s.readableEnded).length;
        // An error ends the log's follow of the pipe (it keeps what was read, partial line included).
        for (const s of [child.stdout, child.stderr]) s?.destroy(new Error('output cut'));
        await Promise.all([out, err]);
        run.log.write(
          run.sheetNum,
          'sys',
          `output of sheet ${run.sheetNum} cut: its main process exited ${PIPE_DRAIN_MS / 1000} s ago and ` +
            `${open === 2 ? 'its stdout and stderr were' : 'a pipe was'} still held open by processes it started`,
        );
      }
      await escapedStopped;
    };
  });
  return { pid: child.pid, stop: () => stopGroup('stopped'), pause, resume, done };
};
