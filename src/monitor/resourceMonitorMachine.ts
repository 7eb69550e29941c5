/**
 * The resource monitor as an XState machine: every `interval` it checks what the
 * conductor's whole process tree uses, computes the pressure level (with hysteresis),
 * publishes changes and refuses work above the warn threshold; what is shed at the hard
 * limit is decided outside (monitor/shedPolicy.ts, after every check).
 * After `degraded_after_failures` failed checks in a row it is degraded — fail-closed:
 * no new work — and it recovers on the next good check.
 * The machine keeps the state and says what happened by emitting its own events
 * (`pressure_changed`, `degraded`, `recovered`, `checked`); the check is provided by the
 * caller, who turns those into durable events and shed decisions (src/monitor/resourceMonitor.ts).
 * Pure: the time of a check comes with its result (`checked_at`), and delays run on the
 * actor's clock, so a test drives it with a SimulatedClock.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { acceptsWork, evaluatePressure, type PressureLevel, type PressureLimits } from './pressure.js';

export interface ResourceCheck {
  memory_mb: number;
  processes: number;
  zombie_pids: number[];
}

/** A check's result as the machine receives it: with the time it was taken (epoch ms). */
export interface TimedCheck extends ResourceCheck {
  checked_at: number;
}

/** What the machine emits (actor.on(type, ...)). */
export type MonitorEmitted =
  | {
      type: 'pressure_changed';
      level: PressureLevel;
      previous: PressureLevel;
      memory_mb: number;
      memory_percent: number;
      processes: number;
      process_percent: number;
    }
  | { type: 'degraded'; consecutive_failures: number; error: string }
  | { type: 'recovered'; after_failures: number }
  /** Every successful check, with the level it led to (the shed policy's input). */
  | { type: 'checked'; level: PressureLevel; check: ResourceCheck; memory_percent: number; process_percent: number; settings: MonitorSettings };

export interface MonitorSettings extends PressureLimits {
  interval_seconds: number;
  degraded_after_failures: number;
  /** Seconds between two hard-limit pauses/cancels, so one can take effect first. */
  shed_cooldown_seconds: number;
}

export interface MonitorContext {
  settings: MonitorSettings;
  level: PressureLevel;
  memory_percent: number;
  process_percent: number;
  last: ResourceCheck | undefined;
  failures: number;
  degraded: boolean;
  lastCheckAt: number | undefined;
  lastError: string | undefined;
}

export type MonitorEvent = { type: 'UPDATE_LIMITS'; settings: MonitorSettings } | { type: 'CHECK_NOW' };

export const resourceMonitorMachine = setup({
  types: {
    context: {} as MonitorContext,
    events: {} as MonitorEvent,
    input: {} as { settings: MonitorSettings },
    emitted: {} as MonitorEmitted,
  },
  actors: {
    // Provided: read the conductor tree's usage and when; throws when the probe cannot answer.
    check: fromPromise<TimedCheck>(async () => {
      throw new Error('check not provided');
    }),
  },
  delays: {
    interval: ({ context }) => context.settings.interval_seconds * 1000,
  },
}).createMachine({
  id: 'resourceMonitor',
  context: ({ input }) => ({
    settings: input.settings,
    level: 'none',
    memory_percent: 0,
    process_percent: 0,
    last: undefined,
    failures: 0,
    degraded: false,
    lastCheckAt: undefined,
    lastError: undefined,
  }),
  initial: 'waiting',
  on: {
    UPDATE_LIMITS: { actions: assign({ settings: ({ event }) => event.settings }) },
  },
  states: {
    waiting: {
      after: { interval: 'checking' },
      on: { CHECK_NOW: 'checking' },
    },
    checking: {
      invoke: {
        src: 'check',
        onDone: {
          target: 'waiting',
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { checked_at, ...check } = event.output;
            const reading = evaluatePressure({ memory_mb: check.memory_mb, processes: check.processes }, context.settings, context.level);
            enqueue.assign({
              last: check,
              failures: 0,
              degraded: false,
              lastError: undefined,
              lastCheckAt: checked_at,
              memory_percent: reading.memory_percent,
              process_percent: reading.process_percent,
              level: reading.level,
            });
            if (context.degraded) enqueue.emit({ type: 'recovered', after_failures: context.failures });
            // The first check sets the level without a change to report.
            if (context.lastCheckAt !== undefined && reading.level !== context.level) {
              enqueue.emit({
                type: 'pressure_changed',
                level: reading.level,
                previous: context.level,
                memory_mb: check.memory_mb,
                memory_percent: reading.memory_percent,
                processes: check.processes,
                process_percent: reading.process_percent,
              });
            }
            enqueue.emit({
              type: 'checked',
              level: reading.level,
              check,
              memory_percent: reading.memory_percent,
              process_percent: reading.process_percent,
              settings: context.settings,
            });
          }),
        },
        onError: {
          target: 'waiting',
          actions: enqueueActions(({ context, event, enqueue }) => {
            const failures = context.failures + 1;
            const error = String((event.error as Error)?.message ?? event.error);
            const degraded = context.degraded || failures >= context.settings.degraded_after_failures;
            enqueue.assign({ failures, lastError: error, degraded });
            if (degraded && !context.degraded) enqueue.emit({ type: 'degraded', consecutive_failures: failures, error });
          }),
        },
      },
    },
  },
});

export function isAccepting(context: MonitorContext): { accepting: boolean; reason?: string } {
  if (context.degraded) return { accepting: false, reason: `resource monitor degraded (${context.lastError ?? 'probe failing'})` };
  if (context.lastCheckAt === undefined) return { accepting: true };
  if (!acceptsWork(context.level)) {
    return {
      accepting: false,
      reason: `pressure ${context.level}: memory ${context.memory_percent}% of ${context.settings.max_memory_mb} MB, processes ${context.process_percent}% of ${context.settings.max_processes}`,
    };
  }
  return { accepting: true };
}
