/**
 * A sheet run through a waiter (waiter.ts) so that it outlives the conductor (live_restore).
 * The handle has the SheetHandle shape the job manager already drives (stop, pause, resume,
 * done) plus `ready` (the sheet's pid arrives from the waiter) and `detach` (a stopping
 * conductor lets go of the sheet: the spool is copied up to now, the state left on disk).
 *
 * Durable per-sheet state, `<job dir>/live/sheet-<n>/state.json` (tmp + rename): the waiter's
 * and the sheet's identity (pid + start time, so a reused pid is never taken for the sheet),
 * the timeout as a wall-clock deadline (or the time left, while paused), and a stop under way
 * (its SIGKILL due time). A conductor that adopts the sheet reads it and carries on: the
 * deadline holds across the restart, a SIGKILL that fell due meanwhile is sent at once.
 *
 * How the sheet ended comes from the waiter's status file. If the waiter is gone without one
 * (someone SIGKILLed it), the sheet is watched by its identity until it is gone and recorded
 * with an unknown exit status.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ProcIdentity } from '../../probe/sheetMarker.js';
import { escalateLater } from '../escalations.js';
import { escapedPauser, escapedStopper, markerOfProcess, procReader, stillRunning, type EscapedQuery } from '../escapedProcesses.js';
import type { JobLog } from '../jobLog.js';
import { groupLeft, signalGroup, type SheetHandle, type SheetOutcome } from '../sheetProcess.js';
import { SpoolTailer } from './spool.js';
import { writeJsonAtomic } from '../../shared/privateFiles.js';
import { readSheetPid, readStatus, startWaiter, type WaiterStatus } from './waiter.js';

const POLL_MS = 100;
/** How long a started waiter has to report the sheet's pid before the sheet counts as not started. */
const READY_TIMEOUT_MS = 10_000;

export interface LiveSheetState {
  job_id: string;
  sheet_num: number;
  marker?: string;
  waiter: ProcIdentity;
  sheet?: ProcIdentity;
  started_at_ms: number;
  /** Wall-clock deadline; null while paused. */
  deadline_ms: number | null;
  /** `escaped`: the processes outside the group that the pause stopped (resume continues them). */
  paused?: { remaining_ms: number; by: 'client' | 'resource_monitor'; escaped?: ProcIdentity[] };
  stop?: { why: 'timeout' | 'stopped'; kill_at_ms: number };
}

export interface LiveSheetOptions {
  dir: string;
  log: JobLog;
  sheetNum: number;
  killGraceSeconds: number;
  knownProcesses?: () => ProcIdentity[];
  onSignalSent?: (signal: NodeJS.Signals, why: 'timeout' | 'stopped' | 'leftovers') => void;
  onEscapedSignalled?: (signal: NodeJS.Signals, pids: number[]) => void;
}

export interface LiveSheetHandle extends SheetHandle {
  /** Resolves once the pid is known (or the sheet could not start). */
  ready: Promise<void>;
  /** Copy the spool up to now and let go of the sheet; `done` never settles after this. */
  detach(): Promise<void>;
  /** Set when the sheet was adopted from a previous conductor. */
  adopted?: { pid: number | undefined };
  /** Whether the sheet was paused when it was adopted (the caller re-applies the pause). */
  pausedBy?: 'client' | 'resource_monitor';
}

export const stateFile = (dir: string) => path.join(dir, 'state.json');

/**
 * The state is only read by a later conductor: failing to write it (a full disk) must not
 * stop the sheet — the cost is that a restart meanwhile closes the job as interrupted.
 */
function saveState(dir: string, state: LiveSheetState): void {
  try {
    writeJsonAtomic(stateFile(dir), state);
  } catch {
    /* see above */
  }
}

export function readState(dir: string): LiveSheetState | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as LiveSheetState;
    return Number.isInteger(s.waiter?.pid) && typeof s.started_at_ms === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

function identity(pid: number): ProcIdentity | undefined {
  const stat = procReader().readStat(pid);
  return stat && stat.state !== 'Z' ? { pid, startTicks: stat.startTicks } : undefined;
}

const alive = (id: ProcIdentity | undefined) => id !== undefined && stillRunning(id);

/** Start a sheet under a new waiter. */
export function startLiveSheet(
  opts: LiveSheetOptions & { jobId: string; argv: string[]; cwd: string; env: NodeJS.ProcessEnv; marker?: string; timeoutSeconds: number },
): LiveSheetHandle {
  stopStray(opts.dir, `:${opts.jobId}#${opts.sheetNum}`);
  fs.rmSync(opts.dir, { recursive: true, force: true });
  fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  return runHandle(opts, async () => {
    const waiterPid = await startWaiter({ dir: opts.dir, argv: opts.argv, cwd: opts.cwd, env: opts.env, marker: opts.marker });
    const now = Date.now();
    const state: LiveSheetState = {
      job_id: opts.jobId,
      sheet_num: opts.sheetNum,
      ...(opts.marker ? { marker: opts.marker } : {}),
      waiter: identity(waiterPid) ?? { pid: waiterPid, startTicks: -1 },
      started_at_ms: now,
      deadline_ms: now + opts.timeoutSeconds * 1000,
    };
    saveState(opts.dir, state);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const pid = readSheetPid(opts.dir);
      if (pid !== undefined) {
        state.sheet = identity(pid) ?? { pid, startTicks: -1 };
        saveState(opts.dir, state);
        return state;
      }
      if (readStatus(opts.dir) || Date.now() > deadline) return state; // exec failed; the status says why
      await new Promise((r) => setTimeout(r, 10));
    }
  });
}

/**
 * A conductor that died between starting a waiter and writing the sheet's state leaves a sheet
 * nobody will adopt; before this sheet starts again, that one (its pid file names it, its
 * MZT_SHEET_ID confirms it is this job's sheet) is killed with its group.
 */
function stopStray(dir: string, markerSuffix: string): void {
  const pid = readSheetPid(dir);
  if (pid === undefined) return;
  let marker: string | undefined;
  try {
    marker = markerOfProcess(pid);
  } catch {
    return; // an unreadable /proc: nothing is known to be stray
  }
  if (marker?.endsWith(markerSuffix)) signalGroup(pid, 'SIGKILL');
}

/** Adopt a sheet a previous conductor started (its state file must exist). */
export function adoptLiveSheet(opts: LiveSheetOptions, state: LiveSheetState): LiveSheetHandle {
  if (!state.sheet) {
    const pid = readSheetPid(opts.dir);
    if (pid !== undefined) state.sheet = identity(pid) ?? { pid, startTicks: -1 };
  }
  const handle = runHandle(opts, async () => state);
  handle.adopted = { pid: state.sheet?.pid };
  if (state.paused) handle.pausedBy = state.paused.by;
  return handle;
}

function runHandle(opts: LiveSheetOptions, begin: () => Promise<LiveSheetState>): LiveSheetHandle {
  const tailer = new SpoolTailer(opts.dir, opts.log, opts.sheetNum);
  let state: LiveSheetState | undefined;
  let detached = false;
  let settled = false;
  let poll: NodeJS.Timeout | undefined;
  let timeout: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let lastError: string | undefined;
  /** Stop or pause asked for before the waiter reported the sheet's pid. */
  const early: { stop?: 'timeout' | 'stopped'; pause?: 'client' | 'resource_monitor' } = {};
  let resolveDone!: (o: SheetOutcome) => void;
  const done = new Promise<SheetOutcome>((r) => (resolveDone = r));
  const save = () => state && !detached && saveState(opts.dir, state);
  const pid = () => state?.sheet?.pid;
  // The sheet's group; a leader gone while members live on keeps its number (see orphans.ts).
  const signalTree = (sig: NodeJS.Signals) => {
    const p = pid();
    if (p === undefined) return false;
    const leader = identity(p);
    if (leader && state!.sheet!.startTicks >= 0 && leader.startTicks !== state!.sheet!.startTicks) return false;
    return signalGroup(p, sig);
  };

  // The waiter lives outside the group but carries no marker (waiter.ts), so no scan takes it.
  const escapedQuery = (): EscapedQuery | undefined => {
    const p = pid();
    return p === undefined ? undefined : { marker: state!.marker, pgid: p, known: opts.knownProcesses };
  };
  const stopEscapedRound = escapedStopper({ killGraceSeconds: opts.killGraceSeconds, onSignalled: opts.onEscapedSignalled });
  const stopEscaped = async (): Promise<void> => {
    const query = escapedQuery();
    if (query) await stopEscapedRound(query);
  };
  // What the pause stopped goes on disk with the pause: a conductor that adopts the sheet
  // continues those processes at resume or stop.
  const escapedPause = escapedPauser((ids) => {
    if (!state?.paused) return;
    state.paused.escaped = [...ids];
    save();
  });

  const armKill = () => {
    if (!state?.stop) return;
    clearTimeout(killTimer);
    const why = state.stop.why;
    killTimer = setTimeout(() => {
      if (!settled && signalTree('SIGKILL')) opts.onSignalSent?.('SIGKILL', why);
    }, Math.max(0, state.stop.kill_at_ms - Date.now()));
  };

  const stopGroup = (why: 'timeout' | 'stopped') => {
    if (!state) return void (early.stop ??= why); // before the pid is known: applied once it is
    if (state.stop || settled) return;
    state.stop = { why, kill_at_ms: Date.now() + opts.killGraceSeconds * 1000 };
    save();
    clearTimeout(timeout);
    if (signalTree('SIGTERM')) opts.onSignalSent?.('SIGTERM', why);
    if (state.paused) {
      state.paused = undefined;
      signalTree('SIGCONT');
      escapedPause.resume();
    }
    void stopEscaped().catch(() => undefined);
    armKill();
  };

  const armTimeout = () => {
    clearTimeout(timeout);
    if (!state || state.deadline_ms === null || state.stop) return;
    timeout = setTimeout(() => stopGroup('timeout'), Math.max(0, state.deadline_ms - Date.now()));
  };

  const finish = async (status: WaiterStatus | undefined, lost: boolean) => {
    await tailer.drain();
    if (settled || detached) return;
    settled = true;
    clearTimeout(poll);
    clearTimeout(timeout);
    clearTimeout(killTimer);
    const p = pid();
    if (p !== undefined && !state!.stop && groupLeft(p) && signalGroup(p, 'SIGTERM')) {
      opts.onSignalSent?.('SIGTERM', 'leftovers');
      escalateLater(opts.killGraceSeconds * 1000, () => groupLeft(p), () => {
        if (groupLeft(p) && signalGroup(p, 'SIGKILL')) opts.onSignalSent?.('SIGKILL', 'leftovers');
      });
    }
    await stopEscaped().catch(() => undefined);
    if (status?.cut) opts.log.write(opts.sheetNum, 'sys', `output of sheet ${opts.sheetNum} cut: its main process exited and its pipes were still held open by processes it started`);
    const ended = status?.ended_at_ms ?? Date.now();
    const duration_seconds = Math.round(Math.max(0, ended - state!.started_at_ms)) / 1000;
    const reason = state!.stop?.why;
    if (status?.spawn_error !== undefined) {
      resolveDone({ exit_code: null, signal: null, duration_seconds, reason: 'spawn_error', error: status.spawn_error });
    } else if (lost || status?.error) {
      const error = status?.error ?? 'exit status unknown: its waiter ended without recording it';
      resolveDone({ exit_code: null, signal: null, duration_seconds, ...(reason ? { reason } : {}), error });
    } else {
      resolveDone({ exit_code: status!.exit_code, signal: status!.signal, duration_seconds, ...(reason ? { reason } : {}) });
    }
  };

  const tick = async () => {
    poll = undefined;
    if (settled || detached) return;
    try {
      if (!state!.sheet) {
        // The waiter was slow to report the pid (a loaded machine): take it when it comes.
        const late = readSheetPid(opts.dir);
        if (late !== undefined) {
          state!.sheet = identity(late) ?? { pid: late, startTicks: -1 };
          save();
        }
      }
      await tailer.pump();
      const status = readStatus(opts.dir);
      if (status) return void (await finish(status, false));
      if (!alive(state!.waiter) && !readStatus(opts.dir)) {
        // The waiter is gone without a status: wait for the sheet itself to be gone.
        if (!alive(state!.sheet)) return void (await finish(undefined, true));
      }
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastError) opts.log.write(opts.sheetNum, 'sys', `live_restore: ${message}`);
      lastError = message;
    }
    if (!settled && !detached) poll = setTimeout(() => void tick(), POLL_MS);
  };

  const handle: LiveSheetHandle = {
    get pid() {
      return pid();
    },
    ready: begin().then(
      (s) => {
        state = s;
        if (detached) return;
        if (state.paused?.escaped) escapedPause.restore(state.paused.escaped);
        if (state.stop) armKill();
        else armTimeout();
        if (early.stop) stopGroup(early.stop);
        else if (early.pause) handle.pause(early.pause);
        // After the caller's own continuation (its "sheet started" line comes before any output).
        setImmediate(() => void tick());
      },
      (err: Error) => {
        settled = true;
        resolveDone({ exit_code: null, signal: null, duration_seconds: 0, reason: 'spawn_error', error: err.message });
      },
    ),
    stop: () => stopGroup('stopped'),
    pause: (by = 'client') => {
      if (!state) return void (early.pause = by);
      if (state.paused || state.stop || settled) return;
      clearTimeout(timeout);
      state.paused = { remaining_ms: Math.max(0, (state.deadline_ms ?? Date.now()) - Date.now()), by };
      state.deadline_ms = null;
      save();
      signalTree('SIGSTOP');
      // What left the group is found by a /proc scan, a moment later (bounded, sliced).
      const query = escapedQuery();
      if (query) void escapedPause.pause(query).catch(() => undefined);
    },
    resume: () => {
      early.pause = undefined;
      if (!state?.paused) return;
      state.deadline_ms = Date.now() + state.paused.remaining_ms;
      state.paused = undefined;
      save();
      signalTree('SIGCONT');
      escapedPause.resume();
      armTimeout();
    },
    done,
    detach: async () => {
      clearTimeout(poll);
      clearTimeout(timeout);
      clearTimeout(killTimer);
      if (state) saveState(opts.dir, state);
      detached = true;
      // A pass may be under way: the second one reads what arrived meanwhile.
      await tailer.pump().catch(() => undefined);
      await tailer.pump().catch(() => undefined);
    },
  };
  return handle;
}
