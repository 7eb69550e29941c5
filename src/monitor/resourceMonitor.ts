/**
 * The resource monitor service: runs the machine, turns its state changes into durable
 * events (pressure changes, degraded/recovered), applies the hard-limit policy (cancel the
 * newest running job, one per check, with a cooldown, until under the limit), and answers
 * the job manager's "may I accept work?" question.
 */
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import type { NewEvent } from '../events/types.js';
import {
  isAccepting,
  resourceMonitorMachine,
  type MonitorContext,
  type MonitorSettings,
  type ResourceCheck,
} from './resourceMonitorMachine.js';

export const DEFAULT_MONITOR_SETTINGS: MonitorSettings = {
  max_memory_mb: 8192,
  max_processes: 50,
  warn_percent: 80,
  hard_percent: 95,
  hysteresis_percent: 5,
  interval_seconds: 5,
  degraded_after_failures: 5,
  shed_cooldown_seconds: 5,
};

export interface ResourceMonitorDeps {
  check(): Promise<ResourceCheck>;
  record(event: NewEvent): void;
  /** Cancel the newest running job; resolves with its id, or undefined when none runs. */
  shedNewest(reason: string): Promise<string | undefined>;
  settings: MonitorSettings;
  log?: (msg: string) => void;
  /** Called when the actor fails (the supervisor restarts it). */
  onFailure?: (err: unknown) => void;
}

export interface MonitorStatus {
  pressure_level: MonitorContext['level'];
  memory_mb: number | null;
  memory_percent: number;
  processes: number | null;
  process_percent: number;
  zombie_pids: number[];
  degraded: boolean;
  consecutive_failures: number;
  last_error: string | null;
  seconds_since_last_check: number | null;
  accepting_work: boolean;
  not_accepting_reason: string | null;
  limits: MonitorSettings;
}

export class ResourceMonitor {
  private readonly actor: ActorRefFrom<typeof resourceMonitorMachine>;
  private previous: MonitorContext | undefined;
  private lastShedAt = 0;
  private shedding = false;

  constructor(private readonly deps: ResourceMonitorDeps) {
    const machine = resourceMonitorMachine.provide({ actors: { check: fromPromise(() => deps.check()) } });
    this.actor = createActor(machine, { input: { settings: deps.settings } });
    this.actor.subscribe({ next: (snapshot) => this.observe(snapshot.context), error: (err) => deps.onFailure?.(err) });
  }

  start(): void {
    this.actor.start();
  }

  stop(): void {
    this.actor.stop();
  }

  checkNow(): void {
    this.actor.send({ type: 'CHECK_NOW' });
  }

  updateSettings(settings: MonitorSettings): void {
    this.actor.send({ type: 'UPDATE_LIMITS', settings });
    this.deps.record({
      type: 'monitor.limits_updated',
      data: {
        max_memory_mb: settings.max_memory_mb,
        max_processes: settings.max_processes,
        warn_percent: settings.warn_percent,
        hard_percent: settings.hard_percent,
      },
    });
  }

  acceptingWork(): { accepting: boolean; reason?: string } {
    return isAccepting(this.actor.getSnapshot().context);
  }

  status(): MonitorStatus {
    const c = this.actor.getSnapshot().context;
    const accepting = isAccepting(c);
    return {
      pressure_level: c.level,
      memory_mb: c.last ? Math.round(c.last.memory_mb * 10) / 10 : null,
      memory_percent: c.memory_percent,
      processes: c.last ? c.last.processes : null,
      process_percent: c.process_percent,
      zombie_pids: c.last?.zombie_pids ?? [],
      degraded: c.degraded,
      consecutive_failures: c.failures,
      last_error: c.lastError ?? null,
      seconds_since_last_check: c.lastCheckAt === undefined ? null : Math.round((Date.now() - c.lastCheckAt) / 100) / 10,
      accepting_work: accepting.accepting,
      not_accepting_reason: accepting.reason ?? null,
      limits: c.settings,
    };
  }

  private observe(c: MonitorContext): void {
    const prev = this.previous;
    this.previous = c;
    if (!prev) return;
    if (c.level !== prev.level) {
      this.deps.record({
        type: 'monitor.pressure_changed',
        data: {
          level: c.level,
          previous: prev.level,
          memory_mb: c.last?.memory_mb ?? null,
          memory_percent: c.memory_percent,
          processes: c.last?.processes ?? null,
          process_percent: c.process_percent,
        },
      });
    }
    if (c.degraded && !prev.degraded) {
      this.deps.log?.(`resource monitor degraded after ${c.failures} failed checks: ${c.lastError}`);
      this.deps.record({ type: 'monitor.degraded', data: { consecutive_failures: c.failures, error: c.lastError ?? 'unknown' } });
    }
    if (!c.degraded && prev.degraded) {
      this.deps.record({ type: 'monitor.recovered', data: { after_failures: prev.failures } });
    }
    // A fresh check at the hard limit: cancel the newest job, unless one was just cancelled.
    if (c.lastCheckAt !== prev.lastCheckAt && c.level === 'critical') void this.shed(c);
  }

  private async shed(c: MonitorContext): Promise<void> {
    const now = Date.now();
    if (this.shedding || now - this.lastShedAt < c.settings.shed_cooldown_seconds * 1000) return;
    this.shedding = true;
    this.lastShedAt = now;
    const reason = `hard limit: memory ${c.memory_percent}% of ${c.settings.max_memory_mb} MB, processes ${c.process_percent}% of ${c.settings.max_processes} (limit ${c.settings.hard_percent}%)`;
    try {
      const jobId = await this.deps.shedNewest(reason);
      this.deps.record({
        type: 'monitor.limit_exceeded',
        data: {
          action: jobId ? 'cancelled_newest_job' : 'none_running',
          cancelled_job_id: jobId ?? null,
          memory_mb: c.last?.memory_mb ?? null,
          memory_percent: c.memory_percent,
          processes: c.last?.processes ?? null,
          process_percent: c.process_percent,
        },
      });
    } catch (err) {
      this.deps.log?.(`hard-limit cancellation failed: ${(err as Error).message}`);
    } finally {
      this.shedding = false;
    }
  }
}
