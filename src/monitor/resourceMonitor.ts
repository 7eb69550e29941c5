/**
 * The resource monitor service: runs the machine, turns its state changes into durable
 * events (pressure changes, degraded/recovered), hands every fresh reading to the shed
 * policy (`afterCheck`: pause the job to blame, cancel after the grace, resume below warn —
 * conductor/shedding.ts), and answers the job manager's "may I accept work?" question.
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
import type { LogFn } from '../log/logger.js';

/** Fixed settings for a monitor built without a config (tests); the conductor's limits come from config.ts (from the machine). */
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

/** A fresh check's outcome, as the shed policy reads it. */
export interface CheckReading {
  level: MonitorContext['level'];
  memory_mb: number;
  processes: number;
  memory_percent: number;
  process_percent: number;
  settings: MonitorSettings;
}

export interface ResourceMonitorDeps {
  check(): Promise<ResourceCheck>;
  record(event: NewEvent): void;
  /** Called after every successful check (never two at once: a check while one runs is skipped). */
  afterCheck?(reading: CheckReading): Promise<void>;
  settings: MonitorSettings;
  log?: LogFn;
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
  private acting = false;

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
      this.deps.log?.(`resource monitor degraded after ${c.failures} failed checks: ${c.lastError}`, 'warn');
      this.deps.record({ type: 'monitor.degraded', data: { consecutive_failures: c.failures, error: c.lastError ?? 'unknown' } });
    }
    if (!c.degraded && prev.degraded) {
      this.deps.record({ type: 'monitor.recovered', data: { after_failures: prev.failures } });
    }
    if (c.lastCheckAt !== prev.lastCheckAt && c.last) void this.act(c, c.last);
  }

  private async act(c: MonitorContext, last: NonNullable<MonitorContext['last']>): Promise<void> {
    if (this.acting || !this.deps.afterCheck) return;
    this.acting = true;
    try {
      await this.deps.afterCheck({
        level: c.level,
        memory_mb: last.memory_mb,
        processes: last.processes,
        memory_percent: c.memory_percent,
        process_percent: c.process_percent,
        settings: c.settings,
      });
    } catch (err) {
      this.deps.log?.(`shed policy failed: ${(err as Error).message}`, 'error');
    } finally {
      this.acting = false;
    }
  }
}
