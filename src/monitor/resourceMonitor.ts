/**
 * The resource monitor service: runs the machine, turns what it emits into durable
 * events (pressure changes, degraded/recovered), hands every fresh reading to the shed
 * policy (`afterCheck`: pause the job to blame, cancel after the grace, resume below warn —
 * conductor/shedding.ts), and answers the job manager's "may I accept work?" question.
 */
import { createActor, fromPromise, type ActorOptions, type ActorRefFrom } from 'xstate';
import type { NewEvent } from '../events/types.js';
import {
  isAccepting,
  resourceMonitorMachine,
  type MonitorContext,
  type MonitorEmitted,
  type MonitorSettings,
  type ResourceCheck,
} from './resourceMonitorMachine.js';
import type { LogFn } from '../log/logger.js';

type Clock = NonNullable<ActorOptions<typeof resourceMonitorMachine>['clock']>;

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
  /** Time of a check (tests); the machine's delays run on `clock` (an XState SimulatedClock in tests). */
  now?: () => number;
  clock?: Clock;
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
  private acting = false;

  constructor(private readonly deps: ResourceMonitorDeps) {
    const now = deps.now ?? Date.now;
    const machine = resourceMonitorMachine.provide({ actors: { check: fromPromise(async () => ({ ...(await deps.check()), checked_at: now() })) } });
    this.actor = createActor(machine, { input: { settings: deps.settings }, ...(deps.clock ? { clock: deps.clock } : {}) });
    this.actor.subscribe({ error: (err) => deps.onFailure?.(err) });
    // The machine says what happened; here it becomes durable events and shed decisions.
    this.actor.on('pressure_changed', ({ type: _type, ...data }) => deps.record({ type: 'monitor.pressure_changed', data }));
    this.actor.on('degraded', (e) => {
      deps.log?.(`resource monitor degraded after ${e.consecutive_failures} failed checks: ${e.error}`, 'warn');
      deps.record({ type: 'monitor.degraded', data: { consecutive_failures: e.consecutive_failures, error: e.error } });
    });
    this.actor.on('recovered', (e) => deps.record({ type: 'monitor.recovered', data: { after_failures: e.after_failures } }));
    this.actor.on('checked', (e) => void this.act(e));
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

  private async act(e: Extract<MonitorEmitted, { type: 'checked' }>): Promise<void> {
    if (this.acting || !this.deps.afterCheck) return;
    this.acting = true;
    try {
      await this.deps.afterCheck({
        level: e.level,
        memory_mb: e.check.memory_mb,
        processes: e.check.processes,
        memory_percent: e.memory_percent,
        process_percent: e.process_percent,
        settings: e.settings,
      });
    } catch (err) {
      this.deps.log?.(`shed policy failed: ${(err as Error).message}`, 'error');
    } finally {
      this.acting = false;
    }
  }
}
