/**
 * The job manager service: the conductor's door to the job machines. It validates and
 * records submissions, provides the machines' side effects (spawning sheets, logs, event
 * appends), and exposes counters for status and snapshots. Its parts live beside it:
 *   jobSubmission.ts  job ids and the job.submitted record
 *   liveJobs.ts       the table of live jobs and its counts
 *   jobStates.ts      a job's state, read from its machine
 *   sheetRun.ts       one sheet's run and its events
 *   adoptedJobs.ts    live_restore's re-adopted and detached jobs
 *   jobShutdown.ts    interrupting or (live_restore) letting go of every job
 */
import path from 'node:path';
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import type { JobLimits, JobSpec } from '../events/jobRecord.js';
import { gitContext } from './gitContext.js';
import type { NewEvent } from '../events/types.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { AdoptedJobs } from './adoptedJobs.js';
import { JobEventWriter } from './jobEventWriter.js';
import { createLiveJob, type LiveJob } from './liveJob.js';
import { LiveJobs, type ActiveProcess } from './liveJobs.js';
import { jobMachine, type PauseBy } from './jobMachine.js';
import { jobManagerMachine } from './jobManagerMachine.js';
import { detachAll, interruptAll } from './jobShutdown.js';
import { liveJobState, requireJobState, stopKindOf, type JobActor, type LiveJobState } from './jobStates.js';
import { checkJobIdSyntax, checkLabelKeys, pickJobId, submittedData } from './jobSubmission.js';
import { normalizeRestartPolicy, type RestartPolicy } from './restartPolicy.js';
import { writeJobSpec, type RetryPlan } from './jobRetry.js';
import { newMarkerInstance, parseMarker, type ProcIdentity } from '../probe/sheetMarker.js';
import { spawnSheet as realSpawnSheet, type SheetOutcome, type SpawnSheet } from './sheetProcess.js';
import { runSheet, type SheetRunHost } from './sheetRun.js';
import type { LogPosition } from './jobLog.js';
import type { LiveHost, RestorePlan } from './liveRestore/liveHost.js';

export type { ActiveProcess } from './liveJobs.js';

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

const TERMINAL_EVENTS = new Set(['job.completed', 'job.failed', 'job.cancelled', 'job.interrupted']);

export class JobManager {
  private config: JobManagerConfig;
  private readonly live = new LiveJobs();
  private readonly manager: ActorRefFrom<typeof jobManagerMachine>;
  private readonly spawn: SpawnSheet;
  private shuttingDown = false;
  private readonly events: JobEventWriter;
  /** Who paused each paused job: the resource monitor resumes only its own pauses. */
  private readonly pausedBy = new Map<string, PauseBy>();
  /** This run's part of every sheet's MZT_SHEET_ID (probe/sheetMarker.ts). */
  private readonly markerInstance: string;
  private readonly adopted = new AdoptedJobs();
  /** What a sheet's run needs of this manager (sheetRun.ts). */
  private readonly sheetHost: SheetRunHost;

  constructor(private readonly deps: JobManagerDeps) {
    this.markerInstance = deps.markerInstance ?? newMarkerInstance();
    this.config = { ...deps.config };
    this.events = new JobEventWriter({ append: deps.append, log: (m) => deps.log?.(m), maxHeld: deps.maxHeldEvents });
    this.spawn = deps.spawnSheet ?? realSpawnSheet;
    this.sheetHost = {
      settings: () => this.config,
      markerInstance: this.markerInstance,
      ...(deps.knownProcesses ? { knownProcesses: (tag) => deps.knownProcesses!(tag) } : {}),
      record: (event) => this.record(event),
      stopKind: (jobId) => this.stopKind(jobId),
      restored: (jobId) => this.adopted.get(jobId),
      pause: (jobId, by) => this.manager.send({ type: 'PAUSE', jobId, by }),
    };
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

  /** Jobs waiting out a restart backoff (`pending`): they hold no slot and are not queued yet. */
  get pendingCount(): number {
    return this.manager.getSnapshot().context.delayed.length;
  }

  get activeSheets(): number {
    return this.live.activeSheets;
  }

  /** Job events the store refused that wait to be recorded (health is not ready meanwhile). */
  get unrecordedEvents(): number {
    return this.events.heldCount;
  }

  activeProcesses(): ActiveProcess[] {
    return this.live.activeProcesses();
  }

  /** The limits of every live job that has some (the resource monitor enforces them). */
  jobLimits(): Map<string, JobLimits> {
    return this.live.jobLimits();
  }

  /** The job and sheet an MZT_SHEET_ID value names, if one of this conductor's sheets set it. */
  sheetOfMarker(value: string): { job_id: string; sheet_num: number } | undefined {
    const own = parseMarker(this.markerInstance, value);
    if (own || !this.adopted.hasInstances) return own;
    return this.adopted.sheetOfMarker(value);
  }

  async submit(spec: JobSpec): Promise<{ job_id: string; status: 'queued' | 'running' }> {
    // What the spec alone decides, before any work for it.
    checkJobIdSyntax(spec);
    checkLabelKeys(spec);
    // Provenance (bounded, asynchronous): the checks below must not be separated from the job
    // becoming live by an await.
    const gitDir = spec.cwd ?? spec.sheets[0]?.cwd;
    const git = gitDir !== undefined ? await gitContext(gitDir) : undefined;
    this.requireAcceptingWork();
    const restart = spec.restart ? normalizeRestartPolicy(spec.restart) : undefined;
    const jobId = pickJobId(spec, (id) => this.live.has(id) || this.deps.jobExists(id));
    const job = this.newLiveJob(jobId, spec, git ? gitDir : undefined, false);
    // What job.retry needs after this conductor is gone (environment values included).
    writeJobSpec(path.join(this.deps.jobsDir, jobId), spec, (m) => this.deps.log?.(m));
    try {
      // Straight to the store: a submission the store refuses is refused, not held.
      const data = submittedData(jobId, spec, this.config.default_sheet_timeout_seconds, git, restart);
      await this.deps.append({ type: 'job.submitted', job_id: jobId, data });
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
        if (this.adopted.isDetached(jobId)) return; // a live_restore shutdown stopped its machine; the job goes on
        job.isFinished = true;
        this.pausedBy.delete(jobId);
        job.markFinished();
        void this.events
          .settled(jobId)
          .then(() => job.log.close())
          .then(() => {
            this.live.delete(jobId);
            this.adopted.forget(jobId);
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
    this.adopted.add(plan);
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
  stateOf(jobId: string): LiveJobState | undefined {
    return this.jobState(jobId);
  }

  private jobActor(jobId: string): JobActor | undefined {
    return this.manager.getSnapshot().children[jobId] as JobActor | undefined;
  }

  private jobState(jobId: string): LiveJobState | undefined {
    const job = this.live.get(jobId);
    return job && liveJobState(job, this.jobActor(jobId));
  }

  private requireState(jobId: string, wanted: 'running' | 'paused', verb: string): void {
    const state = this.jobState(jobId);
    // The job's existence is asked of the projection only when it is not live.
    const exists = state !== undefined || this.deps.jobExists(jobId);
    requireJobState(jobId, state, this.live.get(jobId)?.sheet !== undefined, exists, wanted, verb);
  }

  updateConfig(config: JobManagerConfig): void {
    this.config = { ...config };
    this.manager.send({ type: 'SET_MAX_CONCURRENT', max: config.max_concurrent_jobs });
  }

  /** Interrupt every job (running ones are stopped), and wait until all are recorded (jobShutdown.ts). */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const parts = {
      manager: this.manager,
      live: this.live,
      events: this.events,
      drainMs: this.deps.shutdownDrainMs ?? 3000,
      stateOf: (jobId: string) => this.jobState(jobId),
      log: (message: string) => this.deps.log?.(message),
    };
    const live = this.deps.live;
    if (!live) return interruptAll(parts);
    return detachAll({ ...parts, detach: (jobId) => this.adopted.detach(jobId), stopHeartbeat: () => live.stopHeartbeat() });
  }

  private record(original: NewEvent): Promise<unknown> {
    let event = this.adopted.adjust(original);
    if (!event) return Promise.resolve(); // a restored job's machine starts again; the job did not
    const gitAtEnd = TERMINAL_EVENTS.has(event.type) && event.job_id !== undefined ? this.live.get(event.job_id)?.gitAtEnd : undefined;
    if (gitAtEnd) event = { ...event, data: { ...event.data, git: gitAtEnd } };
    if (event.job_id !== undefined) return this.events.record({ ...event, job_id: event.job_id });
    const p = this.deps.append(event);
    p.catch((err: Error) => this.deps.log?.(`could not record ${event.type}: ${err.message}`));
    return p;
  }

  private runSheet(jobId: string, sheetNum: number, attempt: number): Promise<SheetOutcome> {
    const job = this.live.get(jobId)!;
    // Stopping with live_restore: a sheet due now is started by the next conductor instead.
    if (this.shuttingDown && this.deps.live) return new Promise<SheetOutcome>(() => undefined);
    const spawn: SpawnSheet = this.deps.live ? (run) => this.deps.live!.spawn({ ...run, jobId }) : this.spawn;
    return runSheet(this.sheetHost, { job, jobId, sheetNum, attempt, spawn });
  }

  private stopKind(jobId: string): 'cancelled' | 'interrupted' | undefined {
    return stopKindOf(this.jobActor(jobId));
  }
}
