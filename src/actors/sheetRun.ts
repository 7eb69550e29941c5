/**
 * One sheet's run as the job machine's `runSheet` actor sees it: spawn it (or find it adopted,
 * live_restore), write its lines into the job log, record its process and sheet events, and
 * resolve with how it ended. What it needs of the job manager comes through SheetRunHost.
 */
import { gitContext } from './gitContext.js';
import type { NewEvent } from '../events/types.js';
import { markerValue, type ProcIdentity } from '../probe/sheetMarker.js';
import type { Restored } from './adoptedJobs.js';
import type { PauseBy } from './jobMachine.js';
import type { LiveJob } from './liveJob.js';
import type { LiveSheetHandle } from './liveRestore/liveSheet.js';
import { readOomKillCount, type SheetHandle, type SheetOutcome, type SpawnSheet } from './sheetProcess.js';

export interface SheetRunHost {
  /** Read at each run: the config may change meanwhile (config.reload). */
  settings(): { kill_grace_seconds: number; default_sheet_timeout_seconds: number };
  markerInstance: string;
  knownProcesses?(tag: { job_id: string; sheet_num: number }): ProcIdentity[];
  record(event: NewEvent): Promise<unknown>;
  /** How the job's machine is stopping it, if it is. */
  stopKind(jobId: string): 'cancelled' | 'interrupted' | undefined;
  restored(jobId: string): Restored | undefined;
  /** An adopted sheet that was paused: its machine must know. */
  pause(jobId: string, by: PauseBy): void;
}

export async function runSheet(
  host: SheetRunHost,
  run: { job: LiveJob; jobId: string; sheetNum: number; attempt: number; spawn: SpawnSheet },
): Promise<SheetOutcome> {
  const { job, jobId, sheetNum, attempt } = run;
  const spec = job.spec.sheets[sheetNum - 1]!;
  const settings = host.settings();
  const cwd = spec.cwd ?? job.spec.cwd ?? process.cwd();
  const timeout = spec.timeout_seconds ?? settings.default_sheet_timeout_seconds;
  const base = { job_id: jobId, sheet_num: sheetNum };
  const record = (event: NewEvent) => void host.record(event);
  const oomKillsBefore = readOomKillCount();
  let pid: number | undefined;
  const handle: SheetHandle & Partial<LiveSheetHandle> = run.spawn({
    argv: spec.argv,
    cwd,
    env: { ...process.env, ...job.spec.env, ...spec.env },
    timeoutSeconds: timeout,
    killGraceSeconds: settings.kill_grace_seconds,
    sheetNum,
    log: job.log,
    marker: markerValue(host.markerInstance, jobId, sheetNum),
    knownProcesses: host.knownProcesses && (() => host.knownProcesses!({ job_id: jobId, sheet_num: sheetNum })),
    onEscapedSignalled: (signal, pids) => {
      // One event per round; pids capped so that a job of thousands cannot bloat one event.
      const data = { pid: pid ?? null, pgid: pid ?? null, signal, reason: 'escaped_processes', pids: pids.slice(0, 1000), count: pids.length };
      record({ type: 'process.kill', ...base, data });
    },
    onSignalSent: (signal, why) => {
      const reason = why === 'timeout' ? 'timeout' : why === 'leftovers' ? 'leftover_processes' : (host.stopKind(jobId) ?? 'cancelled');
      record({ type: 'process.kill', ...base, data: { pid: pid ?? null, pgid: pid ?? null, signal, reason } });
    },
  });
  job.sheet = { num: sheetNum, handle };
  await handle.ready; // a waiter reports the sheet's pid a moment after it starts
  pid = handle.pid;
  const restored = host.restored(jobId);
  if (handle.adopted) {
    const downtime_ms = restored?.downtime_ms ?? 0;
    job.log.write(sheetNum, 'sys', `sheet ${sheetNum} re-adopted pid=${handle.pid ?? 'unknown'} after ${downtime_ms} ms without a conductor`);
    if (!restored?.startRecorded && handle.pid !== undefined) {
      record({ type: 'sheet.started', ...base, data: { pid: handle.pid, argv: spec.argv, cwd, attempt } });
    }
    record({ type: 'job.readopted', ...base, data: { pid: handle.pid ?? null, downtime_ms } });
    if (handle.pausedBy) host.pause(jobId, handle.pausedBy);
  } else if (handle.pid !== undefined) {
    job.log.write(sheetNum, 'sys', `sheet ${sheetNum} started pid=${handle.pid} argv=${JSON.stringify(spec.argv)} cwd=${cwd}`);
    record({ type: 'sheet.started', ...base, data: { pid: handle.pid, argv: spec.argv, cwd, attempt } });
    record({ type: 'process.spawn', ...base, data: { pid: handle.pid, pgid: handle.pid, command: spec.argv.join(' ') } });
  }
  const outcome = await handle.done;
  job.sheet = undefined;
  const end = { exit_code: outcome.exit_code, signal: outcome.signal, duration_seconds: outcome.duration_seconds };
  if (handle.pid !== undefined) recordProcessEnd(record, base, handle.pid, outcome, end, oomKillsBefore);
  await job.log.writeFlushed(
    sheetNum,
    'sys',
    outcome.reason === 'spawn_error'
      ? `sheet ${sheetNum} could not start: ${outcome.error}`
      : `sheet ${sheetNum} ended exit_code=${outcome.exit_code} signal=${outcome.signal} duration=${outcome.duration_seconds}s${outcome.reason ? ` (${outcome.reason})` : ''}`,
  );
  const ok = outcome.reason === undefined && outcome.exit_code === 0;
  if (ok) {
    record({ type: 'sheet.completed', ...base, data: { ...end, attempt } });
  } else {
    const stopKind = host.stopKind(jobId);
    const reason = outcome.reason === 'stopped' ? (stopKind ?? 'cancelled') : outcome.reason ?? (outcome.signal ? 'signal' : 'exit_code');
    record({ type: 'sheet.failed', ...base, data: { ...end, reason, attempt, ...(outcome.error ? { error: outcome.error } : {}) } });
  }
  // The job ends with this sheet: its provenance at the end goes into the terminal event.
  // Not on interrupt (a stopping conductor should not wait on git).
  if (job.gitDir !== undefined && (!ok || sheetNum === job.spec.sheets.length) && host.stopKind(jobId) !== 'interrupted') {
    job.gitAtEnd = await gitContext(job.gitDir);
  }
  return outcome;
}

/** process.exit, and for a signal process.signal (and process.oom for a SIGKILL nobody here sent). */
function recordProcessEnd(
  record: (event: NewEvent) => void,
  base: { job_id: string; sheet_num: number },
  pid: number,
  outcome: SheetOutcome,
  end: { exit_code: number | null; signal: string | null; duration_seconds: number },
  oomKillsBefore: number | null,
): void {
  record({ type: 'process.exit', ...base, data: { pid, ...end } });
  if (!outcome.signal) return;
  // Signals the conductor sent itself (cancel, timeout, shutdown) versus anyone else's.
  const byConductor = outcome.reason === 'timeout' || outcome.reason === 'stopped';
  record({ type: 'process.signal', ...base, data: { pid, signal: outcome.signal, by_conductor: byConductor } });
  // A SIGKILL nobody here sent: the OOM killer if the kernel's count rose meanwhile (it counts
  // machine-wide, so "while the sheet ran" is the evidence, not proof); a likely one where the
  // count cannot be read; someone's `kill -9` otherwise.
  const after = outcome.signal === 'SIGKILL' && !byConductor ? readOomKillCount() : null;
  if (outcome.signal === 'SIGKILL' && !byConductor && (oomKillsBefore === null || after === null || after > oomKillsBefore)) {
    const confirmed = oomKillsBefore !== null && after !== null;
    record({
      type: 'process.oom',
      ...base,
      data: {
        pid,
        confirmed,
        evidence: confirmed
          ? `the kernel's oom_kill count rose from ${oomKillsBefore} to ${after} while the sheet ran`
          : 'SIGKILL not sent by the conductor; the kernel OOM count is not readable here',
      },
    });
  }
}
