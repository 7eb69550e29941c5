/**
 * The job manager service: the conductor's door to the job machines. It validates and
 * records submissions, provides the machines' side effects (spawning sheets, logs, event
 * appends), and exposes counters for status and snapshots.
 */
import path from 'node:path';
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import type { JobLimits, JobSpec } from '../events/jobRecord.js';
import { gitContext } from '../conductor/gitContext.js';
import type { NewEvent } from '../events/types.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { isValidJobId } from '../conductor/paths.js';
import { JobEventWriter } from './jobEventWriter.js';
import { createLiveJob, type LiveJob } from './liveJob.js';
import { generateJobId as generateId } from '../events/jobIds.js';
import { jobMachine, type PauseBy } from './jobMachine.js';
import { jobManagerMachine } from './jobManagerMachine.js';
import { normalizeRestartPolicy, type RestartPolicy } from './restartPolicy.js';
import { writeJobSpec, type RetryPlan } from './jobRetry.js';
import { markerValue, newMarkerInstance, parseMarker, type ProcIdentity } from '../probe/sheetMarker.js';
import { escalationsDone, readOomKillCount, spawnSheet as realSpawnSheet, type SheetHandle, type SheetOutcome, type SpawnSheet } from './sheetProcess.js';
import type { LogPosition } from './jobLog.js';
import type { LiveHost, RestorePlan } from './liveRestore/liveHost.js';
import type { LiveSheetHandle } from './liveRestore/liveSheet.js';

export interface JobManagerConfig {
  max_concurrent_jobs: number;
  kill_grace_seconds: number;
  default_sheet_timeout_seconds: number;
  /** Cap of each new job's log (default DEFAULT_MAX_LOG_BYTES). */
  max_log_bytes_per_job?: number;
}

export interface JobManagerDeps {
  /** Durable append; resolves after commit. */
  append(e: NewEvent): Promise<unknown>;
  jobsDir: string;
  /** Ids are never reused: checks the projection. */
  jobExists(jobId: string): boolean;
  /** Backpressure hook (the resource monitor). */
  acceptingWork?(): { accepting: boolean; reason?: string };
  config: JobManagerConfig;
  spawnSheet?: SpawnSheet;
  log?: (msg: string) => void;
  /** Bound on detail events waiting while the store refuses writes (see jobEventWriter.ts). */
  maxHeldEvents?: number;
  /** How long shutdown waits for events the store refused before giving up on them. */
  shutdownDrainMs?: number;
  /** This run's part of every sheet's MZT_SHEET_ID (kept by the conductor for its next start). */
  markerInstance?: string;
  /** Processes the profiler saw in a sheet's tree (to stop those that escaped its group). */
  knownProcesses?(tag: { job_id: string; sheet_num: number }): ProcIdentity[];
  /** live_restore (liveRestore/): sheets run under waiters and outlive this conductor. */
  live?: LiveHost;
}

/** A job re-adopted from a previous conductor (live_restore). */
interface Restored {
  downtime_ms: number;
  /** Whether the log has the adopted sheet's sheet.started. */
  startRecorded: boolean;
  /** The machine records job.started again; the job did not start again. */
  startedSkipped: boolean;
  /** When the job first started (epoch seconds). */
  startedAt?: number;
}

const TERMINAL_EVENTS = new Set(['job.completed', 'job.failed', 'job.cancelled', 'job.interrupted']);

export interface ActiveProcess {
  job_id: string;
  sheet_num: number;
  pid: number;
  pgid: number;
}

export class JobManager {
  private config: JobManagerConfig;
  private readonly live = new Map<string, LiveJob>();
  private readonly manager: ActorRefFrom<typeof jobManagerMachine>;
  private readonly spawn: SpawnSheet;
  private shuttingDown = false;
  private readonly events: JobEventWriter;
  /** Who paused each paused job: the resource monitor resumes only its own pauses. */
  private readonly pausedBy = new Map<string, PauseBy>();
  /** This run's part of every sheet's MZT_SHEET_ID (probe/sheetMarker.ts). */
  private readonly markerInstance: string;
  /** live_restore: earlier conductors' marker instances, jobs re-adopted, jobs let go of at shutdown. */
  private readonly adoptedInstances = new Set<string>();
  private readonly restored = new Map<string, Restored>();
  private readonly detached = new Set<string>();

  constructor(private readonly deps: JobManagerDeps) {
    this.markerInstance = deps.markerInstance ?? newMarkerInstance();
    this.config = { ...deps.config };
    this.events = new JobEventWriter({ append: deps.append, log: (m) => deps.log?.(m), maxHeld: deps.maxHeldEvents });
    this.spawn = deps.spawnSheet ?? realSpawnSheet;
    const machine = jobManagerMachine.provide({
      actors: {
        job: jobMachine.provide({
          actions: {
            record: (_, event: NewEvent) => this.record(event),
            stopSheet: ({ context }) => this.live.get(context.jobId)?.sheet?.handle.stop(),
            pauseSheet: ({ context, event }) => this.live.get(context.jobId)?.sheet?.handle.pause((event as { by?: PauseBy }).by),
            resumeSheet: ({ context }) => this.live.get(context.jobId)?.sheet?.handle.resume(),
          },
          actors: {
            runSheet: fromPromise<SheetOutcome, { jobId: string; sheetNum: number; attempt: number }>(({ input }) =>
              this.runSheet(input.jobId, input.sheetNum, input.attempt),
            ),
          },
        }),
      },
    });
    this.manager = createActor(machine, { input: { maxConcurrent: this.config.max_concurrent_jobs } });
    this.manager.start();
  }

  get runningCount(): number {
    return this.manager.getSnapshot().context.running.length;
  }

  get queuedCount(): number {
    return this.manager.getSnapshot().context.waiting.length;
  }

  get activeSheets(): number {
    let n = 0;
    for (const job of this.live.values()) if (job.sheet) n++;
    return n;
  }

  /** Job events the store refused that wait to be recorded (health is not ready meanwhile). */
  get unrecordedEvents(): number {
    return this.events.heldCount;
  }

  activeProcesses(): ActiveProcess[] {
    const out: ActiveProcess[] = [];
    for (const [job_id, job] of this.live) {
      const pid = job.sheet?.handle.pid;
      if (job.sheet && pid !== undefined) out.push({ job_id, sheet_num: job.sheet.num, pid, pgid: pid });
    }
    return out;
  }

  /** The limits of every live job that has some (the resource monitor enforces them). */
  jobLimits(): Map<string, JobLimits> {
    const out = new Map<string, JobLimits>();
    for (const [jobId, job] of this.live) if (job.spec.limits) out.set(jobId, job.spec.limits);
    return out;
  }

  /** The job and sheet an MZT_SHEET_ID value names, if one of this conductor's sheets set it. */
  sheetOfMarker(value: string): { job_id: string; sheet_num: number } | undefined {
    const own = parseMarker(this.markerInstance, value);
    if (own || this.adoptedInstances.size === 0) return own;
    for (const instance of this.adoptedInstances) {
      const found = parseMarker(instance, value);
      if (found && this.restored.has(found.job_id)) return found;
    }
    return undefined;
  }

  async submit(spec: JobSpec): Promise<{ job_id: string; status: 'queued' | 'running' }> {
    // Provenance first (bounded, asynchronous): the checks below must not be separated from
    // the job becoming live by an await.
    const gitDir = spec.cwd ?? spec.sheets[0]?.cwd;
    const git = gitDir !== undefined ? await gitContext(gitDir) : undefined;
    this.requireAcceptingWork();
    if (spec.job_id !== undefined && !isValidJobId(spec.job_id)) {
      throw new ProtocolError(ErrorCode.INVALID_PARAMS, 'invalid params: "job_id" must match [A-Za-z0-9_.-]{1,64}', { field: 'job_id' });
    }
    const restart = spec.restart ? normalizeRestartPolicy(spec.restart) : undefined;
    let jobId = spec.job_id ?? generateId(spec.name);
    // A generated id can repeat (same name, same second, 16 random bits): draw another.
    for (let i = 0; spec.job_id === undefined && i < 8 && (this.live.has(jobId) || this.deps.jobExists(jobId)); i++) jobId = generateId(spec.name);
    if (this.live.has(jobId) || this.deps.jobExists(jobId)) {
      throw new ProtocolError(ErrorCode.JOB_EXISTS, `a job with id "${jobId}" already exists`, { job_id: jobId });
    }
    const job = this.newLiveJob(jobId, spec, git ? gitDir : undefined, false);
    // What job.retry needs after this conductor is gone (environment values included).
    writeJobSpec(path.join(this.deps.jobsDir, jobId), spec, (m) => this.deps.log?.(m));
    try {
      // Straight to the store: a submission the store refuses is refused, not held.
      await this.deps.append({
        type: 'job.submitted',
        job_id: jobId,
        data: {
          name: spec.name ?? jobId,
          total_sheets: spec.sheets.length,
          // Environment values may hold secrets: only their names are recorded.
          sheets: spec.sheets.map((s) => ({
            argv: s.argv,
            cwd: s.cwd ?? spec.cwd ?? null,
            timeout_seconds: s.timeout_seconds ?? this.config.default_sheet_timeout_seconds,
            name: s.name ?? null,
            env_keys: Object.keys({ ...spec.env, ...s.env }),
          })),
          ...(spec.labels ? { labels: spec.labels } : {}),
          ...(spec.limits ? { limits: spec.limits } : {}),
          ...(git ? { git } : {}),
          ...(restart ? { restart } : {}),
        },
      });
    } catch (err) {
      this.live.delete(jobId);
      void job.log.close();
      throw new ProtocolError(ErrorCode.STORAGE_UNAVAILABLE, (err as Error).message);
    }
    return this.startActor(jobId, job, { sheetCount: spec.sheets.length, restart });
  }

  /**
   * Run an ended job again under its id (job.retry; jobRetry.ts checked the plan): its log
   * continues, sheets before `from_sheet` are not run again.
   */
  async retry(jobId: string, plan: RetryPlan): Promise<{ job_id: string; status: 'queued' | 'running'; attempt: number; from_sheet: number }> {
    this.requireAcceptingWork();
    const state = this.jobState(jobId);
    if (state !== undefined) {
      throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot retry job "${jobId}": it is ${state}`, { job_id: jobId, status: state });
    }
    const restart = plan.spec.restart ? normalizeRestartPolicy(plan.spec.restart) : undefined;
    // Its git context at the end, as for a submitted job (none when its cwd is not a work tree).
    const job = this.newLiveJob(jobId, plan.spec, plan.spec.cwd ?? plan.spec.sheets[0]?.cwd, true);
    const data = { by: 'client', attempt: plan.attempt, from_sheet: plan.from_sheet, previous_status: plan.previous_status };
    try {
      await this.deps.append({ type: 'job.retried', job_id: jobId, data }); // as job.submitted: refused, not held
    } catch (err) {
      this.live.delete(jobId);
      void job.log.close();
      throw new ProtocolError(ErrorCode.STORAGE_UNAVAILABLE, (err as Error).message);
    }
    job.log.write(plan.from_sheet, 'sys', `attempt ${plan.attempt}: retried from sheet ${plan.from_sheet}`);
    const started = this.startActor(jobId, job, { sheetCount: plan.spec.sheets.length, restart, startSheet: plan.from_sheet, attempt: plan.attempt });
    return { ...started, attempt: plan.attempt, from_sheet: plan.from_sheet };
  }

  private requireAcceptingWork(): void {
    if (this.shuttingDown) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
    const pressure = this.deps.acceptingWork?.();
    if (pressure && !pressure.accepting) {
      throw new ProtocolError(ErrorCode.NOT_ACCEPTING_WORK, `not accepting work: ${pressure.reason ?? 'resource pressure'}`, {
        reason: pressure.reason ?? 'resource pressure',
      });
    }
  }

  private newLiveJob(jobId: string, spec: JobSpec, gitDir: string | undefined, continueExisting: boolean, truncateTo?: LogPosition): LiveJob {
    const log = {
      maxBytes: this.config.max_log_bytes_per_job,
      onCapped: (data: { max_log_bytes: number; head_bytes: number }) => void this.record({ type: 'job.log_capped', job_id: jobId, data }),
      continueExisting,
      ...(truncateTo ? { truncateTo } : {}),
    };
    const job = createLiveJob(path.join(this.deps.jobsDir, jobId), spec, log, gitDir);
    this.live.set(jobId, job);
    return job;
  }

  private startActor(
    jobId: string,
    job: LiveJob,
    input: { sheetCount: number; restart?: RestartPolicy; startSheet?: number; attempt?: number },
  ): { job_id: string; status: 'queued' | 'running' } {
    this.manager.send({ type: 'SUBMIT', jobId, ...input });
    const child = this.manager.getSnapshot().children[jobId];
    child?.subscribe({
      complete: () => {
        if (this.detached.has(jobId)) return; // a live_restore shutdown stopped its machine; the job goes on
        job.isFinished = true;
        this.pausedBy.delete(jobId);
        job.markFinished();
        void this.events
          .settled(jobId)
          .then(() => job.log.close())
          .then(() => {
            this.live.delete(jobId);
            this.restored.delete(jobId);
            this.deps.live?.forgetJob(jobId);
            job.markEnded();
          });
      },
    });
    const waiting = this.manager.getSnapshot().context.waiting;
    const position = waiting.indexOf(jobId);
    if (position >= 0) {
      void this.record({ type: 'job.queued', job_id: jobId, data: { position: position + 1 } });
      return { job_id: jobId, status: 'queued' };
    }
    return { job_id: jobId, status: 'running' };
  }

  /**
   * Take over a job a previous conductor left running (live_restore; liveHost.ts decided it
   * can be). Its log goes on where it was (cut back to the spool checkpoint); the machine
   * starts at plan.fromSheet, which is adopted (its waiter runs on) or started fresh.
   */
  adopt(plan: RestorePlan): void {
    const jobId = plan.job_id;
    const job = this.newLiveJob(jobId, plan.spec, plan.spec.cwd ?? plan.spec.sheets[0]?.cwd, true, plan.logCheckpoint);
    this.restored.set(jobId, { downtime_ms: plan.downtime_ms, startRecorded: plan.startRecorded, startedSkipped: false, ...(plan.startedAt !== undefined ? { startedAt: plan.startedAt } : {}) });
    const instance = plan.adopt?.marker?.split(':')[0];
    if (instance) this.adoptedInstances.add(instance);
    const restart = plan.spec.restart ? normalizeRestartPolicy(plan.spec.restart) : undefined;
    this.startActor(jobId, job, { sheetCount: plan.spec.sheets.length, restart, startSheet: plan.fromSheet, attempt: plan.attempt });
  }

  /** Resolves once job.cancelled is committed and the job's process group is gone. */
  async cancel(jobId: string, opts: { reason?: string; by?: 'client' | 'resource_monitor' } = {}): Promise<{ job_id: string; status: string }> {
    const job = this.live.get(jobId);
    if (!job) {
      if (this.deps.jobExists(jobId)) {
        throw new ProtocolError(ErrorCode.INVALID_STATE, `job "${jobId}" has already ended`, { job_id: jobId });
      }
      throw new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
    }
    if (job.isFinished) {
      // Ended, and its last events are being committed — or are refused by the store.
      const recorded = await this.events.settledOrHeld(jobId);
      const why = recorded ? '' : '; its end waits to be recorded (the event store refuses writes)';
      throw new ProtocolError(ErrorCode.INVALID_STATE, `job "${jobId}" has already ended${why}`, { job_id: jobId });
    }
    this.manager.send({ type: 'CANCEL', jobId, reason: opts.reason ?? 'cancelled', by: opts.by ?? 'client' });
    await job.finished;
    if (!(await this.events.settledOrHeld(jobId))) {
      throw new ProtocolError(ErrorCode.STORAGE_UNAVAILABLE, `job "${jobId}" is stopped, but its end waits to be recorded (the event store refuses writes)`, {
        job_id: jobId,
      });
    }
    await job.ended;
    return { job_id: jobId, status: 'cancelled' };
  }

  /** Jobs whose sheet is stopped by `pause` (they keep their concurrency slot). */
  get pausedCount(): number {
    let n = 0;
    for (const jobId of this.live.keys()) if (this.jobState(jobId) === 'paused') n++;
    return n;
  }

  /** SIGSTOP a running job's sheet tree; any other state is an INVALID_STATE error naming it. */
  pause(jobId: string, by: PauseBy): { job_id: string; status: 'paused' } {
    this.requireState(jobId, 'running', 'pause');
    this.pausedBy.set(jobId, by);
    this.manager.send({ type: 'PAUSE', jobId, by });
    return { job_id: jobId, status: 'paused' };
  }

  /** SIGCONT a paused job's sheet tree; any other state is an INVALID_STATE error naming it. */
  resume(jobId: string, by: PauseBy): { job_id: string; status: 'running' } {
    this.requireState(jobId, 'paused', 'resume');
    this.pausedBy.delete(jobId);
    this.manager.send({ type: 'RESUME', jobId, by });
    return { job_id: jobId, status: 'running' };
  }

  /** Who paused this job, while it is paused (undefined otherwise). */
  pauser(jobId: string): PauseBy | undefined {
    if (this.jobState(jobId) !== 'paused') {
      this.pausedBy.delete(jobId);
      return undefined;
    }
    return this.pausedBy.get(jobId);
  }

  /** A live job's state as clients name it, or undefined when it is not live (ended or unknown). */
  stateOf(jobId: string): 'queued' | 'running' | 'paused' | 'pending' | 'ending' | undefined {
    return this.jobState(jobId);
  }

  private jobState(jobId: string): 'queued' | 'running' | 'paused' | 'pending' | 'ending' | undefined {
    const job = this.live.get(jobId);
    if (!job) return undefined;
    if (job.isFinished) return 'ending';
    const child = this.manager.getSnapshot().children[jobId] as ActorRefFrom<typeof jobMachine> | undefined;
    const snap = child?.getSnapshot();
    if (!snap) return 'queued';
    if (snap.matches({ running: { sheet: 'paused' } })) return 'paused';
    if (snap.matches('pending')) return 'pending';
    if (snap.matches('running')) return snap.context.stop ? 'ending' : 'running';
    return snap.matches('queued') ? 'queued' : 'ending';
  }

  private requireState(jobId: string, wanted: 'running' | 'paused', verb: string): void {
    const state = this.jobState(jobId);
    if (state === wanted && this.live.get(jobId)?.sheet) return;
    if (state === undefined && !this.deps.jobExists(jobId)) {
      throw new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
    }
    const status = state ?? 'ended';
    throw new ProtocolError(ErrorCode.INVALID_STATE, `cannot ${verb} job "${jobId}": it is ${status}, not ${wanted}`, { job_id: jobId, status });
  }

  updateConfig(config: JobManagerConfig): void {
    this.config = { ...config };
    this.manager.send({ type: 'SET_MAX_CONCURRENT', max: config.max_concurrent_jobs });
  }

  /** Interrupt every job (running ones are stopped), and wait until all are recorded. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.deps.live) return this.detachAll();
    const finished = [...this.live.values()].map((j) => j.finished);
    const ended = [...this.live.values()].map((j) => j.ended);
    this.manager.send({ type: 'SHUTDOWN', reason: 'conductor_shutdown' });
    await Promise.all(finished);
    // Events the store still refuses are lost with this process: the jobs stay `running` in
    // the log, and the next start closes them as interrupted (conductor_restarted).
    if (await this.events.drain(this.deps.shutdownDrainMs ?? 3000)) {
      await Promise.all(ended); // their logs closed too
    } else {
      this.deps.log?.(`stopping with job events the store refused (the next start closes these jobs as interrupted): ${this.events.describeUnrecorded().join('; ')}`);
    }
    this.events.stop();
    // Sheets end with their main process; what ignored SIGTERM gets its SIGKILL before we go.
    await escalationsDone();
    this.manager.stop();
  }

  /**
   * live_restore's shutdown: running sheets are let go of (they and their waiters run on, the
   * next conductor re-adopts them); queued and pending jobs, and sheets not run by a waiter, are
   * interrupted as without it.
   */
  private async detachAll(): Promise<void> {
    this.manager.send({ type: 'SET_MAX_CONCURRENT', max: 0 }); // nothing new starts meanwhile
    const children = this.manager.getSnapshot().children as Record<string, ActorRefFrom<typeof jobMachine> | undefined>;
    const left: LiveJob[] = [];
    const stopped: LiveJob[] = [];
    // Queued ones first: an interrupted running job must not free a slot for them.
    const order = [...this.live.entries()].sort(([a], [b]) => Number(this.jobState(b) === 'queued') - Number(this.jobState(a) === 'queued'));
    for (const [jobId, job] of order) {
      if (job.isFinished) continue;
      const handle = job.sheet?.handle as Partial<LiveSheetHandle> | undefined;
      const between = !job.sheet && this.jobState(jobId) === 'running';
      if (handle?.detach || between) {
        this.detached.add(jobId);
        left.push(job);
        if (handle?.detach) await handle.detach();
      } else {
        stopped.push(job);
        children[jobId]?.send({ type: 'INTERRUPT', reason: 'conductor_shutdown' });
      }
    }
    this.deps.live?.stopHeartbeat();
    await Promise.all(stopped.map((j) => j.finished));
    if (await this.events.drain(this.deps.shutdownDrainMs ?? 3000)) await Promise.all(stopped.map((j) => j.ended));
    await Promise.all(left.map((j) => j.log.close()));
    this.events.stop();
    await escalationsDone();
    this.manager.stop();
    if (left.length > 0) this.deps.log?.(`live_restore: left ${left.length} job(s) running for the next conductor`);
  }

  private record(event: NewEvent): Promise<unknown> {
    const restored = event.job_id !== undefined ? this.restored.get(event.job_id) : undefined;
    if (restored && event.type === 'job.started' && !restored.startedSkipped) {
      restored.startedSkipped = true; // the machine starts again; the job did not
      return Promise.resolve();
    }
    if (restored?.startedAt !== undefined && event.type === 'job.completed') {
      // The machine counts from its own start; the job started under an earlier conductor.
      event = { ...event, data: { ...event.data, duration_seconds: Math.round(Date.now() - restored.startedAt * 1000) / 1000 } };
    }
    const gitAtEnd = TERMINAL_EVENTS.has(event.type) && event.job_id !== undefined ? this.live.get(event.job_id)?.gitAtEnd : undefined;
    if (gitAtEnd) event = { ...event, data: { ...event.data, git: gitAtEnd } };
    if (event.job_id !== undefined) return this.events.record({ ...event, job_id: event.job_id });
    const p = this.deps.append(event);
    p.catch((err: Error) => this.deps.log?.(`could not record ${event.type}: ${err.message}`));
    return p;
  }

  private async runSheet(jobId: string, sheetNum: number, attempt: number): Promise<SheetOutcome> {
    const job = this.live.get(jobId)!;
    // Stopping with live_restore: a sheet due now is started by the next conductor instead.
    if (this.shuttingDown && this.deps.live) return new Promise<SheetOutcome>(() => undefined);
    const spec = job.spec.sheets[sheetNum - 1]!;
    const cwd = spec.cwd ?? job.spec.cwd ?? process.cwd();
    const timeout = spec.timeout_seconds ?? this.config.default_sheet_timeout_seconds;
    const base = { job_id: jobId, sheet_num: sheetNum };
    const oomKillsBefore = readOomKillCount();
    let pid: number | undefined;
    const spawn: SpawnSheet = this.deps.live ? (run) => this.deps.live!.spawn({ ...run, jobId }) : this.spawn;
    const handle: SheetHandle & Partial<LiveSheetHandle> = spawn({
      argv: spec.argv,
      cwd,
      env: { ...process.env, ...job.spec.env, ...spec.env },
      timeoutSeconds: timeout,
      killGraceSeconds: this.config.kill_grace_seconds,
      sheetNum,
      log: job.log,
      marker: markerValue(this.markerInstance, jobId, sheetNum),
      knownProcesses: this.deps.knownProcesses && (() => this.deps.knownProcesses!({ job_id: jobId, sheet_num: sheetNum })),
      onEscapedSignalled: (signal, pids) => {
        // One event per round; pids capped so that a job of thousands cannot bloat one event.
        const data = { pid: pid ?? null, pgid: pid ?? null, signal, reason: 'escaped_processes', pids: pids.slice(0, 1000), count: pids.length };
        void this.record({ type: 'process.kill', ...base, data });
      },
      onSignalSent: (signal, why) => {
        const reason = why === 'timeout' ? 'timeout' : why === 'leftovers' ? 'leftover_processes' : (this.stopKind(jobId) ?? 'cancelled');
        void this.record({ type: 'process.kill', ...base, data: { pid: pid ?? null, pgid: pid ?? null, signal, reason } });
      },
    });
    job.sheet = { num: sheetNum, handle };
    await handle.ready; // a waiter reports the sheet's pid a moment after it starts
    pid = handle.pid;
    const restored = this.restored.get(jobId);
    if (handle.adopted) {
      const downtime_ms = restored?.downtime_ms ?? 0;
      job.log.write(sheetNum, 'sys', `sheet ${sheetNum} re-adopted pid=${handle.pid ?? 'unknown'} after ${downtime_ms} ms without a conductor`);
      if (!restored?.startRecorded && handle.pid !== undefined) {
        void this.record({ type: 'sheet.started', ...base, data: { pid: handle.pid, argv: spec.argv, cwd, attempt } });
      }
      void this.record({ type: 'job.readopted', ...base, data: { pid: handle.pid ?? null, downtime_ms } });
      if (handle.pausedBy) this.manager.send({ type: 'PAUSE', jobId, by: handle.pausedBy });
    } else if (handle.pid !== undefined) {
      job.log.write(sheetNum, 'sys', `sheet ${sheetNum} started pid=${handle.pid} argv=${JSON.stringify(spec.argv)} cwd=${cwd}`);
      void this.record({ type: 'sheet.started', ...base, data: { pid: handle.pid, argv: spec.argv, cwd, attempt } });
      void this.record({ type: 'process.spawn', ...base, data: { pid: handle.pid, pgid: handle.pid, command: spec.argv.join(' ') } });
    }
    const outcome = await handle.done;
    job.sheet = undefined;
    const end = { exit_code: outcome.exit_code, signal: outcome.signal, duration_seconds: outcome.duration_seconds };
    if (handle.pid !== undefined) {
      void this.record({ type: 'process.exit', ...base, data: { pid: handle.pid, ...end } });
      if (outcome.signal) {
        // Signals the conductor sent itself (cancel, timeout, shutdown) versus anyone else's.
        const byConductor = outcome.reason === 'timeout' || outcome.reason === 'stopped';
        void this.record({ type: 'process.signal', ...base, data: { pid: handle.pid, signal: outcome.signal, by_conductor: byConductor } });
        // A SIGKILL nobody here sent: the OOM killer if the kernel's count rose meanwhile (it
        // counts machine-wide, so "while the sheet ran" is the evidence, not proof); a likely
        // one where the count cannot be read; someone's `kill -9` otherwise.
        const after = outcome.signal === 'SIGKILL' && !byConductor ? readOomKillCount() : null;
        if (outcome.signal === 'SIGKILL' && !byConductor && (oomKillsBefore === null || after === null || after > oomKillsBefore)) {
          const confirmed = oomKillsBefore !== null && after !== null;
          void this.record({
            type: 'process.oom',
            ...base,
            data: {
              pid: handle.pid,
              confirmed,
              evidence: confirmed
                ? `the kernel's oom_kill count rose from ${oomKillsBefore} to ${after} while the sheet ran`
                : 'SIGKILL not sent by the conductor; the kernel OOM count is not readable here',
            },
          });
        }
      }
    }
    await job.log.writeFlushed(
      sheetNum,
      'sys',
      outcome.reason === 'spawn_error'
        ? `sheet ${sheetNum} could not start: ${outcome.error}`
        : `sheet ${sheetNum} ended exit_code=${outcome.exit_code} signal=${outcome.signal} duration=${outcome.duration_seconds}s${outcome.reason ? ` (${outcome.reason})` : ''}`,
    );
    const ok = outcome.reason === undefined && outcome.exit_code === 0;
    if (ok) {
      void this.record({ type: 'sheet.completed', ...base, data: { ...end, attempt } });
    } else {
      const stopKind = this.stopKind(jobId);
      const reason =
        outcome.reason === 'stopped'
          ? (stopKind ?? 'cancelled')
          : outcome.reason ?? (outcome.signal ? 'signal' : 'exit_code');
      void this.record({
        type: 'sheet.failed',
        ...base,
        data: { ...end, reason, attempt, ...(outcome.error ? { error: outcome.error } : {}) },
      });
    }
    // The job ends with this sheet: its provenance at the end goes into the terminal event.
    // Not on interrupt (a stopping conductor should not wait on git).
    if (job.gitDir !== undefined && (!ok || sheetNum === job.spec.sheets.length) && this.stopKind(jobId) !== 'interrupted') {
      job.gitAtEnd = await gitContext(job.gitDir);
    }
    return outcome;
  }

  private stopKind(jobId: string): 'cancelled' | 'interrupted' | undefined {
    const child = this.manager.getSnapshot().children[jobId] as ActorRefFrom<typeof jobMachine> | undefined;
    const stop = child?.getSnapshot().context.stop;
    return stop ? (stop.kind === 'cancel' ? 'cancelled' : 'interrupted') : undefined;
  }
}
