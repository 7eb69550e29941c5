/**
 * Syscall hotspots on demand: Debian's `strace -c -f` attached to a set of pids for a bounded
 * time, its summary table parsed into rows. One strace run, nothing else: which pids to trace,
 * one-trace-per-job and recording the result belong to the caller (src/conductor/jobTrace.ts).
 *
 * strace runs under coreutils `timeout`: the time bound holds even if the conductor dies
 * without stopping it (a SIGKILLed conductor cannot send the SIGINT), and SIGINT is what makes
 * strace detach cleanly (tracees resumed, never left in state T) and print its summary.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface SyscallRow {
  syscall: string;
  calls: number;
  errors: number;
  /** Time spent in the syscall over the trace, as strace -c counts it (system time). */
  seconds: number;
}

/** A finished trace as stored in `monitor.trace` (TraceData) and answered by `job.trace` (TraceResult). */
export interface TraceData {
  seconds_requested: number;
  duration_seconds: number;
  pids_traced: number;
  unattached_pids: number;
  ended_by: 'time' | 'processes_ended' | 'stopped';
  total_calls: number;
  total_seconds: number;
  /** Most called first; at most 40. */
  syscalls: SyscallRow[];
}

export interface TraceResult extends TraceData {
  job_id: string;
  sheet_num: number;
  seq: number;
}

export interface StraceOutcome {
  rows: SyscallRow[];
  total_calls: number;
  total_seconds: number;
  /** Pids strace could not attach to (gone meanwhile, or not permitted). */
  unattached_pids: number;
  duration_seconds: number;
  /** Why it ended: the time bound, or every traced process ended, or the caller stopped it. */
  ended_by: 'time' | 'processes_ended' | 'stopped';
}

/** The reasons a trace cannot run; the caller turns them into protocol errors. */
export class TraceUnavailable extends Error {
  constructor(message: string, readonly reason: 'strace_missing' | 'ptrace_denied' | 'strace_failed') {
    super(message);
  }
}

export const MAX_TRACE_SECONDS = 300;
/** strace's stderr is read up to this much: a summary is a few KB; anything beyond is noise. */
const MAX_OUTPUT_BYTES = 256 * 1024;
/** Rows kept from the summary (strace lists at most a few hundred syscalls). */
export const MAX_ROWS = 40;
/** After SIGINT, how long strace gets to detach and print before `timeout` kills it. */
const DETACH_GRACE_SECONDS = 10;

/**
 * Parses the `strace -c` summary (`% time  seconds  usecs/call  calls  errors  syscall`). The
 * columns are fixed-width and usecs/call and errors may be blank, so cells are cut at the widths
 * of the dashed separator line under the header, not split on spaces.
 */
export function parseStraceSummary(text: string): { rows: SyscallRow[]; total_calls: number; total_seconds: number } | undefined {
  const rows: SyscallRow[] = [];
  let total: { calls: number; seconds: number } | undefined;
  let widths: number[] | undefined;
  let sawHeader = false;
  for (const line of text.split('\n')) {
    if (/^% time\s+seconds/.test(line)) {
      sawHeader = true;
      continue;
    }
    if (!sawHeader) continue;
    if (/^-+( -+)+\s*$/.test(line)) {
      widths ??= line.trim().split(' ').map((d) => d.length);
      continue;
    }
    if (!widths || widths.length < 6) continue;
    const cells: string[] = [];
    let at = 0;
    for (let i = 0; i < widths.length - 1; i++) {
      cells.push(line.slice(at, at + widths[i]!).trim());
      at += widths[i]! + 1;
    }
    const name = line.slice(at).trim();
    const [, seconds, , calls, errors] = cells;
    if (!name || !/^\d+(\.\d+)?$/.test(seconds!) || !/^\d+$/.test(calls!)) continue;
    if (name === 'total') {
      total = { calls: Number(calls), seconds: Number(seconds) };
      continue;
    }
    rows.push({ syscall: name, calls: Number(calls), errors: errors ? Number(errors) || 0 : 0, seconds: Number(seconds) });
  }
  if (!sawHeader) return undefined;
  rows.sort((a, b) => b.calls - a.calls || b.seconds - a.seconds);
  return {
    rows: rows.slice(0, MAX_ROWS),
    total_calls: total?.calls ?? rows.reduce((s, r) => s + r.calls, 0),
    total_seconds: total?.seconds ?? rows.reduce((s, r) => s + r.seconds, 0),
  };
}

/** The kernel's ptrace restriction, for the error a user without permission sees. */
function ptraceScope(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface StraceRun {
  /** Resolves when strace has exited (detached) and its summary is parsed. */
  done: Promise<StraceOutcome>;
  /** SIGINT now: strace detaches and prints what it has. */
  stop(): void;
  readonly pid: number | undefined;
}

/**
 * Attach `strace -c -f` to `pids` for `seconds`. `env` is the conductor's environment (its PATH
 * decides which strace runs). Rejects with TraceUnavailable when strace is missing or may not
 * attach to any pid.
 */
export function runStrace(pids: readonly number[], seconds: number, env: NodeJS.ProcessEnv = process.env): StraceRun {
  const startedAt = Date.now();
  const args = ['--signal=INT', `--kill-after=${DETACH_GRACE_SECONDS}`, String(seconds), 'strace', '-c', '-f', '-q'];
  for (const pid of pids) args.push('-p', String(pid));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // `timeout` is in coreutils (always there); strace is looked up on PATH by `timeout` itself,
  // so check first for the clear "missing" error rather than timeout's exit 127.
  const stracePath = findOnPath('strace', env);
  if (!stracePath) {
    return {
      done: Promise.reject(
        new TraceUnavailable(
          "strace is not installed (or not on the conductor's PATH): install Debian's strace (apt-get install strace; scripts/install-strace.sh does it) and retry",
          'strace_missing',
        ),
      ),
      stop: () => undefined,
      pid: undefined,
    };
  }
  args[3] = stracePath;
  const child = spawn(findOnPath('timeout', env) ?? '/usr/bin/timeout', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  let outputBytes = 0;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (outputBytes >= MAX_OUTPUT_BYTES) return;
    outputBytes += chunk.length;
    output += chunk.slice(0, MAX_OUTPUT_BYTES - (outputBytes - chunk.length));
  });
  const done = new Promise<StraceOutcome>((resolve, reject) => {
    child.on('error', (err) => reject(new TraceUnavailable(`could not start strace: ${err.message}`, 'strace_failed')));
    child.on('close', (code) => {
      clearTimeout(timer);
      const duration_seconds = Math.round((Date.now() - startedAt) / 100) / 10;
      const notPermitted = (output.match(/attach: ptrace\(PTRACE_SEIZE, \d+\): Operation not permitted/g) ?? []).length;
      const gone = (output.match(/attach: ptrace\(PTRACE_SEIZE, \d+\): No such process/g) ?? []).length;
      let summary = parseStraceSummary(output);
      // strace -c prints no table at all when the tree made no syscall (a pure CPU loop, a
      // parent blocked in wait4 the whole time): a real answer, not a failure.
      const complaints = output.split('\n').filter((l) => l.startsWith('strace:') && !/No such process/.test(l));
      if (!summary && complaints.length === 0 && (code === 124 || code === 0 || stopped)) summary = { rows: [], total_calls: 0, total_seconds: 0 };
      if (!summary) {
        if (notPermitted > 0) {
          const scope = ptraceScope();
          reject(
            new TraceUnavailable(
              `ptrace is not permitted: strace could not attach to the job's processes (Operation not permitted)` +
                (scope !== undefined ? `; kernel.yama.ptrace_scope is ${scope}` : '') +
                '. The conductor needs CAP_SYS_PTRACE, or kernel.yama.ptrace_scope 0 (sysctl kernel.yama.ptrace_scope=0), or to run as the same user as the job with a ptrace_scope that allows it',
              'ptrace_denied',
            ),
          );
          return;
        }
        const firstLine = output.split('\n').find((l) => l.trim() !== '') ?? `exit code ${code}`;
        reject(new TraceUnavailable(`strace produced no summary: ${firstLine.slice(0, 300)}`, 'strace_failed'));
        return;
      }
      const ended_by = stopped ? 'stopped' : code === 124 ? 'time' : 'processes_ended';
      resolve({ ...summary, unattached_pids: notPermitted + gone, duration_seconds, ended_by });
    });
  });
  return {
    done,
    stop() {
      if (stopped || child.exitCode !== null || child.signalCode !== null) return;
      stopped = true;
      // `timeout` forwards SIGINT to strace, which detaches (tracees resume) and prints the summary.
      child.kill('SIGINT');
      // Last resort if strace hangs: timeout's own --kill-after covers a dead conductor; this covers a live one.
      timer = setTimeout(() => child.kill('SIGKILL'), (DETACH_GRACE_SECONDS + 2) * 1000);
      timer.unref();
    },
    get pid() {
      return child.pid;
    },
  };
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const candidate = `${dir}/${name}`;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
