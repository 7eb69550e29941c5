/**
 * The profiler as an XState machine: sample, wait `interval`, sample again. When a sample
 * costs more than `budget_percent` of the interval, the interval doubles (up to
 * `max_interval_seconds`) so watching never costs more than promised, and the machine emits
 * `interval_widened`. The sample itself is provided by the caller, which records what the
 * machine emits.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';

export interface ProfilerSettings {
  interval_seconds: number;
  max_interval_seconds: number;
  /** Most of one core, in percent of the interval, that sampling may take. */
  budget_percent: number;
}

export interface SampleCost {
  ok: boolean;
  /** Milliseconds of conductor time the sample took. */
  cost_ms: number;
}

export interface ProfilerContext {
  settings: ProfilerSettings;
  interval_seconds: number;
  samples: number;
  failures: number;
  lastCost: SampleCost | undefined;
}

/** What the machine emits (actor.on('interval_widened', ...)). */
export interface IntervalWidened {
  type: 'interval_widened';
  from_seconds: number;
  to_seconds: number;
  sample_cost_ms: number;
  budget_percent: number;
}

export const profilerMachine = setup({
  types: {
    context: {} as ProfilerContext,
    events: {} as { type: 'UPDATE_SETTINGS'; settings: ProfilerSettings },
    input: {} as { settings: ProfilerSettings },
    emitted: {} as IntervalWidened,
  },
  actors: {
    sample: fromPromise<SampleCost>(async () => {
      throw new Error('sample not provided');
    }),
  },
  delays: {
    interval: ({ context }) => context.interval_seconds * 1000,
  },
}).createMachine({
  id: 'profiler',
  context: ({ input }) => ({
    settings: input.settings,
    interval_seconds: input.settings.interval_seconds,
    samples: 0,
    failures: 0,
    lastCost: undefined,
  }),
  initial: 'sampling',
  on: {
    UPDATE_SETTINGS: {
      actions: assign({ settings: ({ event }) => event.settings, interval_seconds: ({ event }) => event.settings.interval_seconds }),
    },
  },
  states: {
    waiting: { after: { interval: 'sampling' } },
    sampling: {
      invoke: {
        src: 'sample',
        onDone: {
          target: 'waiting',
          actions: enqueueActions(({ context, event, enqueue }) => {
            const cost = event.output;
            const share = (cost.cost_ms / (context.interval_seconds * 1000)) * 100;
            const over = share > context.settings.budget_percent && context.interval_seconds < context.settings.max_interval_seconds;
            const next = over ? Math.min(context.interval_seconds * 2, context.settings.max_interval_seconds) : context.interval_seconds;
            enqueue.assign({
              samples: context.samples + 1,
              failures: cost.ok ? 0 : context.failures + 1,
              lastCost: cost,
              interval_seconds: next,
            });
            if (over) {
              enqueue.emit({
                type: 'interval_widened',
                from_seconds: context.interval_seconds,
                to_seconds: next,
                sample_cost_ms: cost.cost_ms,
                budget_percent: context.settings.budget_percent,
              });
            }
          }),
        },
        onError: {
          target: 'waiting',
          actions: assign(({ context }) => ({ failures: context.failures + 1 })),
        },
      },
    },
  },
});
