/**
 * `job.trace`: syscall hotspots of a running job's sheet. Finds every pid of the sheet's tree
 * (its descendants now, plus processes the profiler tagged with it — escaped ones included),
 * runs one bounded strace over them (src/monitor/syscallTrace.ts), and records the summary as
 * a durable `monitor.trace` event so `mzt diagnose` shows it after the job is gone.
 * One trace per job at a time; every trace is stopped (strace detached) when the conductor stops.
 */
import type { JobManager } from '../actors/jobManager.js';
import { procReader } from '../actors/escapedProcesses.js';
import type { EventStore } from '../events/store.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { descendantsOf, runSliced } from '../probe/procReader.js';
import { MAX_TRACE_SECONDS, runStrace, TraceUnavailable, type StraceRun, type TraceData, type TraceResult } from '../monitor/syscallTrace.js';
import type { Monitoring } from './monitoring.js';

/** strace takes every pid as an argument; a tree beyond this is traced from its first pids (and -f follows new children). */
const MAX_PIDS = 2000;

export class JobTracer {
  private readonly active = new Map<string, { run: StraceRun; done: Promise<unknown>; endsAt: number }>();
  private stopping = false;

  constructor(
    private readonly deps: {
      store: EventStore;
      jobs: JobManager;
      monitoring(): Monitoring | undefined;
      log(line: string): void;
    },
  ) {}

  async trace(jobId: string, seconds: number): Promise<TraceResult> {
    const { store, jobs } = this.deps;
    const record = store.getJob(jobId);
    if (!record) throw new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
    if (record.status !== 'running') {
      const why = record.status === 'paused' ? ' (a stopped tree makes no syscalls: resume it first)' : '';
      throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot trace job "${jobId}": it is ${record.status}${why}`, { job_id: jobId, status: record.status });
    }
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TRACE_SECONDS) {
      throw new ProtocolError(ErrorCode.INVALID_PARAMS, `invalid params: seconds must be in (0, ${MAX_TRACE_SECONDS}]`, { field: 'seconds' });
    }
    const current = this.active.get(jobId);
    if (current) {
      const left = Math.max(0, Math.ceil((current.endsAt - Date.now()) / 1000));
      throw new ProtocolError(ErrorCode.INVALID_STATE, `a trace of job "${jobId}" is already running (ends in about ${left} s)`, { job_id: jobId, status: record.status });
    }
    const leader = jobs.activeProcesses().find((p) => p.job_id === jobId);
    if (!leader) {
      throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot trace job "${jobId}": no sheet is running right now`, { job_id: jobId, status: record.status });
    }
    // Taken before the scan so a second call during it sees the first.
    const slot = { run: undefined as unknown as StraceRun, done: Promise.resolve() as Promise<unknown>, endsAt: Date.now() + seconds * 1000 };
    this.active.set(jobId, slot);
    try {
      const pids = await this.treePids(jobId, leader.sheet_num, leader.pid);
      // stopAll ran during the scan: start nothing it would not stop.
      if (this.stopping) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
      const run = runStrace(pids, seconds);
      slot.run = run;
      slot.done = run.done.catch(() => undefined);
      const outcome = await run.done.catch((err: unknown) => {
        if (err instanceof TraceUnavailable) {
          throw new ProtocolError(ErrorCode.NOT_AVAILABLE, err.message, { job_id: jobId, reason: err.reason });
        }
        throw err;
      });
      const data: TraceData = {
        seconds_requested: seconds,
        duration_seconds: outcome.duration_seconds,
        pids_traced: pids.length,
        unattached_pids: outcome.unattached_pids,
        ended_by: outcome.ended_by,
        total_calls: outcome.total_calls,
        total_seconds: outcome.total_seconds,
        syscalls: outcome.rows,
      };
      const { event } = await store.append({ type: 'monitor.trace', job_id: jobId, sheet_num: leader.sheet_num, data: { ...data } });
      return { job_id: jobId, sheet_num: leader.sheet_num, seq: event.seq, ...data };
    } finally {
      this.active.delete(jobId);
    }
  }

  /** SIGINT to every strace (they detach and the tracees run on), then wait for them, bounded. */
  async stopAll(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    const pending = [...this.active.values()];
    if (pending.length === 0) return;
    this.deps.log(`stopping ${pending.length} syscall trace(s)`);
    for (const slot of pending) slot.run?.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending.map((s) => s.done)),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** The sheet leader's descendants now, plus the processes the profiler tagged with the sheet (escaped ones). */
  private async treePids(jobId: string, sheetNum: number, leaderPid: number): Promise<number[]> {
    const reader = procReader();
    const { value: stats } = await runSliced(reader.readAllStatsSteps(), 2);
    const pids = descendantsOf(stats, [leaderPid]);
    const monitoring = this.deps.monitoring();
    for (const p of monitoring?.profiler.latest()?.processes ?? []) {
      if (p.job_id === jobId && stats.has(p.pid)) pids.add(p.pid);
    }
    for (const p of monitoring?.knownProcesses({ job_id: jobId, sheet_num: sheetNum }) ?? []) {
      if (stats.get(p.pid)?.startTicks === p.startTicks) pids.add(p.pid);
    }
    pids.delete(process.pid);
    return [...pids].slice(0, MAX_PIDS);
  }
}
