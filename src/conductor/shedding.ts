/**
 * Carries out the shed policy (monitor/shedPolicy.ts): after each resource check it pauses,
 * cancels or resumes at most one job for the conductor's limits; at each snapshot it
 * enforces the jobs' own limits. It remembers which pauses are its own — a job a person
 * paused (or resumed, or paused again) is never touched — and records why it acted:
 * `monitor.limit_exceeded` / `monitor.job_limit_exceeded` with the pause (once it took) or
 * before the cancel, `monitor.job_resumed` with the resume (the job's own `job.paused` /
 * `job.resumed` / `job.cancelled` say `by: resource_monitor`).
 */
import type { JobManager } from '../actors/jobManager.js';
import type { JobRecord } from '../events/jobRecord.js';
import type { NewEvent } from '../events/types.js';
import type { CheckReading } from '../monitor/resourceMonitor.js';
import type { JobCost } from '../monitor/snapshot.js';
import { decideJobLimits, decidePressure, type Candidate, type JobLimitAction, type MonitorPause } from '../monitor/shedPolicy.js';
import type { LogFn } from '../log/logger.js';

export interface ShedderDeps {
  jobs(): JobManager;
  /** Records of the active jobs (for their start times). */
  activeJobs(): JobRecord[];
  /** job_costs of the latest snapshot. */
  costs(): readonly JobCost[] | undefined;
  record(event: NewEvent): void;
  log: LogFn;
  /** How long a job the monitor paused may stay paused over a limit before it is cancelled. */
  graceSeconds(): number;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export class Shedder {
  private readonly pauses = new Map<string, MonitorPause>();
  /** Jobs being cancelled or resumed now: not acted on twice. */
  private readonly acting = new Set<string>();
  private lastShedAt = 0;
  private reportedNoneRunning = false;

  constructor(private readonly deps: ShedderDeps) {}

  /** This monitor's pauses still held (for status). */
  held(): MonitorPause[] {
    this.reconcile();
    return [...this.pauses.values()];
  }

  /** After a fresh resource check: at most one pause, cancel or resume. */
  async afterCheck(r: CheckReading): Promise<void> {
    this.reconcile();
    if (r.level !== 'critical') this.reportedNoneRunning = false;
    const jobs = this.deps.jobs();
    const costs = this.deps.costs() ?? [];
    const started = new Map(this.deps.activeJobs().map((j) => [j.job_id, j.started_at ?? j.submitted_at]));
    const candidates: Candidate[] = costs
      .filter((c) => jobs.stateOf(c.job_id) === 'running' && !this.acting.has(c.job_id))
      .map((c) => ({ job_id: c.job_id, started_at: started.get(c.job_id) ?? 0, rss_mb: c.rss_mb, processes: c.processes }));
    const now = Date.now();
    const action = decidePressure({
      now,
      level: r.level,
      memory_mb: r.memory_mb,
      processes: r.processes,
      memory_percent: r.memory_percent,
      process_percent: r.process_percent,
      hard_percent: r.settings.hard_percent,
      candidates,
      paused: [...this.pauses.values()].filter((p) => !this.acting.has(p.job_id)),
      grace_ms: this.deps.graceSeconds() * 1000,
    });
    if (!action || action.kind === 'wait') return;
    const usage = {
      memory_mb: round1(r.memory_mb),
      memory_percent: r.memory_percent,
      processes: r.processes,
      process_percent: r.process_percent,
      grace_seconds: this.deps.graceSeconds(),
    };
    const limitOf = (m: 'memory' | 'processes') => (m === 'memory' ? r.settings.max_memory_mb : r.settings.max_processes);
    if (action.kind === 'resume') {
      this.resume(action.pause, action.why, { level: r.level, memory_percent: r.memory_percent, process_percent: r.process_percent });
      return;
    }
    if (action.kind === 'none_running') {
      if (this.reportedNoneRunning) return;
      this.reportedNoneRunning = true;
      this.deps.record({
        type: 'monitor.limit_exceeded',
        data: {
          action: 'none_running', cancelled_job_id: null, job_id: null, measure: action.measure, share: null, job_figure: null,
          total: action.measure === 'memory' ? round1(r.memory_mb) : r.processes, limit: limitOf(action.measure),
          reason: 'no running job contributes to the crossed measure', ...usage,
        },
      });
      return;
    }
    // One pause or cancel per cooldown, so the last one can show in a sample first.
    if (now - this.lastShedAt < r.settings.shed_cooldown_seconds * 1000) return;
    this.lastShedAt = now;
    if (action.kind === 'pause') {
      const b = action.blame;
      if (!this.pause(b.job_id, `${b.measure} at the hard limit: ${b.why}`)) return;
      this.pauses.set(b.job_id, { job_id: b.job_id, paused_at: now, cause: 'pressure', what: b.measure });
      this.deps.record({
        type: 'monitor.limit_exceeded',
        job_id: b.job_id,
        data: {
          action: 'paused', cancelled_job_id: null, job_id: b.job_id, measure: b.measure, share: b.share, job_figure: b.figure,
          total: b.total, limit: limitOf(b.measure), reason: b.why, ...usage,
        },
      });
      return;
    }
    const p = action.pause;
    const cost = costs.find((c) => c.job_id === p.job_id);
    const measure = p.what === 'memory' ? 'memory' : 'processes';
    const figure = cost ? (measure === 'memory' ? cost.rss_mb : cost.processes) : null;
    const total = measure === 'memory' ? round1(r.memory_mb) : r.processes;
    this.deps.record({
      type: 'monitor.limit_exceeded',
      job_id: p.job_id,
      data: {
        action: 'cancelled', cancelled_job_id: p.job_id, job_id: p.job_id, measure, share: figure === null || total <= 0 ? null : Math.round((figure / total) * 1000) / 1000,
        job_figure: figure, total, limit: limitOf(measure), reason: action.why, ...usage,
      },
    });
    await this.cancel(p.job_id, `resource monitor: ${action.why}`);
  }

  /** At each snapshot: the jobs' own limits. */
  afterSnapshot(jobCosts: readonly JobCost[]): void {
    const jobs = this.deps.jobs();
    const limits = jobs.jobLimits();
    if (limits.size === 0) return;
    this.reconcile();
    const byId = new Map(jobCosts.map((c) => [c.job_id, c]));
    const actions = decideJobLimits({
      now: Date.now(),
      running: jobCosts.filter((c) => limits.has(c.job_id) && jobs.stateOf(c.job_id) === 'running' && !this.acting.has(c.job_id)),
      paused: [...this.pauses.values()].filter((p) => !this.acting.has(p.job_id)).map((pause) => ({ pause, figures: byId.get(pause.job_id) })),
      limits,
      grace_ms: this.deps.graceSeconds() * 1000,
    });
    for (const a of actions) this.applyJobLimit(a);
  }

  private applyJobLimit(a: JobLimitAction): void {
    if (a.kind === 'resume') {
      this.resume(a.pause, a.why, {});
      return;
    }
    const data = { action: a.kind === 'pause' ? 'paused' : 'cancelled', limit: a.limit, limit_value: a.limit_value, figure: round1(a.figure), reason: a.why, grace_seconds: this.deps.graceSeconds() };
    if (a.kind === 'pause') {
      if (!this.pause(a.job_id, a.why)) return;
      this.pauses.set(a.job_id, { job_id: a.job_id, paused_at: Date.now(), cause: 'job_limit', what: a.limit });
      this.deps.record({ type: 'monitor.job_limit_exceeded', job_id: a.job_id, data });
      return;
    }
    this.deps.record({ type: 'monitor.job_limit_exceeded', job_id: a.job_id, data });
    void this.cancel(a.job_id, `resource monitor: ${a.why}`);
  }

  /** Pause a running job; false when it cannot be paused now (it ended, or is between sheets). */
  private pause(jobId: string, why: string): boolean {
    const jobs = this.deps.jobs();
    if (jobs.stateOf(jobId) !== 'running') return false;
    try {
      jobs.pause(jobId, 'resource_monitor');
    } catch (err) {
      this.deps.log(`could not pause job ${jobId}: ${(err as Error).message}`, 'warn');
      return false;
    }
    this.deps.log(`paused job ${jobId}: ${why}`, 'warn');
    return true;
  }

  private resume(p: MonitorPause, why: string, usage: Record<string, unknown>): void {
    if (this.deps.jobs().pauser(p.job_id) !== 'resource_monitor') return;
    this.pauses.delete(p.job_id);
    const paused_seconds = round1((Date.now() - p.paused_at) / 1000);
    try {
      this.deps.jobs().resume(p.job_id, 'resource_monitor');
    } catch (err) {
      this.deps.log(`could not resume job ${p.job_id}: ${(err as Error).message}`, 'warn');
      return;
    }
    this.deps.log(`resumed job ${p.job_id}: ${why}`);
    this.deps.record({ type: 'monitor.job_resumed', job_id: p.job_id, data: { cause: p.cause, reason: why, paused_seconds, ...usage } });
  }

  private async cancel(jobId: string, reason: string): Promise<void> {
    this.acting.add(jobId);
    this.deps.log(`cancelling job ${jobId}: ${reason}`, 'warn');
    try {
      await this.deps.jobs().cancel(jobId, { reason, by: 'resource_monitor' });
    } catch (err) {
      this.deps.log(`cancelling job ${jobId} failed: ${(err as Error).message}`, 'error');
    } finally {
      this.acting.delete(jobId);
      this.pauses.delete(jobId);
    }
  }

  /** Forget pauses that are no longer this monitor's: the job ended, or a person resumed or re-paused it. */
  private reconcile(): void {
    const jobs = this.deps.jobs();
    for (const id of this.pauses.keys()) {
      if (!this.acting.has(id) && jobs.pauser(id) !== 'resource_monitor') this.pauses.delete(id);
    }
  }
}
