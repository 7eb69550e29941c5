/**
 * The resource monitor as an XState machine: every `interval` it checks what the
 * conductor's whole process tree uses, computes the pressure level (with hysteresis),
 * publishes changes and refuses work above the warn threshold; what is shed at the hard
 * limit is decided outside (monitor/shedPolicy.ts, after every check).
 * After `degraded_after_failures` failed checks in a row it is degraded — fail-closed:
 * no new work — and it recovers on the next good check.
 * The machine only keeps state; the check is provided by the caller, who also turns state
 * changes into events (src/monitor/resourceMonitor.ts).
 */
import { assign, fromPromise, setup } from 'xstate';
import { acceptsWork, evaluatePressure, type PressureLevel, type PressureLimits } from './pressure.js';

export interface ResourceCheck {
  memory_mb: number;
  processes: number;
  zombie_pids: number[];
}

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
  },
  actors: {
    // Provided: read the conductor tree's usage; throws when the probe cannot answer.
    check: fromPromise<ResourceCheck>(async () => {
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
          actions: [
            assign(({ context, event }) => {
              const reading = evaluatePressure(
                { memory_mb: event.output.memory_mb, processes: event.output.processes },
                context.settings,
                context.level,
              );
              return {
                last: event.output,
                failures: 0,
                degraded: false,
                lastError: undefined,
                lastCheckAt: Date.now(),
                memory_percent: reading.memory_percent,
                process_percent: reading.process_percent,
                level: reading.level,
              };
            }),
          ],
        },
        onError: {
          target: 'waiting',
          actions: [
            assign(({ context, event }) => ({
              failures: context.failures + 1,
              lastError: String((event.error as Error)?.message ?? event.error),
            })),
            assign(({ context }) => ({
              degraded: context.degraded || context.failures >= context.settings.degraded_after_failures,
            })),
          ],
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
