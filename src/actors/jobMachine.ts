/**
 * One job as an XState machine: queued → running (its sheets one after another) →
 * completed | failed | cancelled | interrupted. Pure definition: running a sheet
 * (`runSheet`), stopping it (`stopSheet`) and recording events (`record`) are provided by
 * the job manager, so the machine can be driven by fakes in tests.
 *
 * Restarts (restartPolicy.ts): a run that ends in a way its policy restarts goes to
 * `pending` instead of its end, gives its concurrency slot back (JOB_RELEASED) and, after the
 * backoff (an `after` transition), is queued again (REQUEUE) from the sheet that failed — or
 * from sheet 1 after a completed run under `on: always`. A retry by a person (job.retry) is a
 * new actor for the same id, started at `startSheet` with the next `attempt`.
 */
import { assign, fromPromise, sendParent, setup, type AnyActorRef } from 'xstate';
import type { NewEvent } from '../events/types.js';
import type { SheetOutcome } from './sheetProcess.js';
import { backoffSeconds, NO_RESTART, shouldRestart, type RestartPolicy } from './restartPolicy.js';

export interface JobMachineInput {
  jobId: string;
  sheetCount: number;
  /** First sheet to run (a retry); 1 by default. */
  startSheet?: number;
  /** The job's run number (1 at submit). */
  attempt?: number;
  restart?: RestartPolicy;
}

export interface StopRequest {
  kind: 'cancel' | 'interrupt';
  reason: string;
  by?: 'client' | 'resource_monitor' | 'shutdown';
}

export interface JobContext {
  jobId: string;
  sheetCount: number;
  sheetNum: number;
  stop: StopRequest | undefined;
  outcome: SheetOutcome | undefined;
  /** Milliseconds by the actor's clock (clockNow) when the run started and when it ended. */
  startedAt: number;
  endedAt: number;
  wasRunning: boolean;
  /** Whether the sheet is stopped by PAUSE (kept when the job ends, for `previous_status`). */
  paused: boolean;
  attempt: number;
  /** Runs in this series (restarts by the policy; a person's retry starts a new series). */
  run: number;
  restart: RestartPolicy;
  /** While pending: the backoff (seconds), when it ends, and the sheet the next run starts at. */
  restartDelay: number;
  restartAt: number | undefined;
  restartSheet: number;
}

export type JobEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason: string; by: 'client' | 'resource_monitor' }
  | { type: 'INTERRUPT'; reason: string }
  | { type: 'PAUSE'; by: PauseBy }
  | { type: 'RESUME'; by: PauseBy };

export type PauseBy = 'client' | 'resource_monitor';

/**
 * Milliseconds now by the actor's own clock (the one its delays run on), so a machine driven
 * with XState's SimulatedClock sees simulated time. XState's Clock interface only schedules;
 * SimulatedClock adds now(), and the default clock (real timers) has none: that is real time.
 */
function clockNow(self: AnyActorRef): number {
  const clock = (self as AnyActorRef & { clock?: { now?: () => number } }).clock;
  return typeof clock?.now === 'function' ? clock.now() : Date.now();
}

const failed = (o: SheetOutcome | undefined) => !o || o.reason !== undefined || o.exit_code !== 0;

function failureReason(o: SheetOutcome | undefined): string {
  if (!o) return 'sheet did not report an outcome';
  if (o.reason === 'timeout') return 'timeout';
  if (o.reason === 'spawn_error') return `spawn_error: ${o.error ?? 'unknown'}`;
  if (o.signal) return `signal ${o.signal}`;
  return `exit code ${o.exit_code}`;
}

export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    events: {} as JobEvent,
    input: {} as JobMachineInput,
  },
  actions: {
    // Provided by the job manager: append a durable event.
    record: (_: unknown, _event: NewEvent) => undefined,
    // Provided by the job manager: stop the running sheet's process group.
    stopSheet: () => undefined,
    // Provided by the job manager: SIGSTOP / SIGCONT the running sheet's tree (its timeout held).
    pauseSheet: () => undefined,
    resumeSheet: () => undefined,
  },
  actors: {
    // Provided by the job manager: run one sheet to its end.
    runSheet: fromPromise<SheetOutcome, { jobId: string; sheetNum: number; attempt: number }>(async () => {
      throw new Error('runSheet not provided');
    }),
  },
  guards: {
    stopCancel: ({ context }) => context.stop?.kind === 'cancel',
    stopInterrupt: ({ context }) => context.stop?.kind === 'interrupt',
    sheetFailed: ({ context }) => failed(context.outcome),
    moreSheets: ({ context }) => context.sheetNum < context.sheetCount,
    restartAfterCompletion: ({ context }) => shouldRestart(context.restart, 'completed', context.run),
  },
  delays: {
    backoff: ({ context }) => Math.round(context.restartDelay * 1000),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({
    jobId: input.jobId,
    sheetCount: input.sheetCount,
    sheetNum: input.startSheet ?? 1,
    stop: undefined,
    outcome: undefined,
    startedAt: 0,
    endedAt: 0,
    wasRunning: false,
    paused: false,
    attempt: input.attempt ?? 1,
    run: 1,
    restart: input.restart ?? NO_RESTART,
    restartDelay: 0,
    restartAt: undefined,
    restartSheet: 1,
  }),
  initial: 'queued',
  states: {
    queued: {
      on: {
        START: 'running',
        CANCEL: { target: 'cancelled', actions: assign({ stop: ({ event }) => ({ kind: 'cancel' as const, reason: event.reason, by: event.by }) }) },
        INTERRUPT: { target: 'interrupted', actions: assign({ stop: ({ event }) => ({ kind: 'interrupt' as const, reason: event.reason }) }) },
      },
    },
    running: {
      entry: [
        assign({ startedAt: ({ self }) => clockNow(self), wasRunning: true }),
        {
          type: 'record',
          params: ({ context }) => ({ type: 'job.started', job_id: context.jobId, data: { attempt: context.attempt, from_sheet: context.sheetNum } }),
        },
      ],
      on: {
        CANCEL: {
          actions: [assign({ stop: ({ event }) => ({ kind: 'cancel' as const, reason: event.reason, by: event.by }) }), 'stopSheet'],
        },
        INTERRUPT: {
          actions: [assign({ stop: ({ event }) => ({ kind: 'interrupt' as const, reason: event.reason }) }), 'stopSheet'],
        },
      },
      initial: 'sheet',
      states: {
        sheet: {
          // The sheet's process runs (active) or is stopped with SIGSTOP (paused); the
          // invocation spans both, so pausing never loses the sheet. A new sheet starts active.
          initial: 'active',
          states: {
            active: {
              on: {
                PAUSE: {
                  target: 'paused',
                  actions: [
                    assign({ paused: true }),
                    'pauseSheet',
                    { type: 'record', params: ({ context, event }) => ({ type: 'job.paused', job_id: context.jobId, sheet_num: context.sheetNum, data: { by: event.by } }) },
                  ],
                },
              },
            },
            paused: {
              on: {
                RESUME: {
                  target: 'active',
                  actions: [
                    assign({ paused: false }),
                    'resumeSheet',
                    { type: 'record', params: ({ context, event }) => ({ type: 'job.resumed', job_id: context.jobId, sheet_num: context.sheetNum, data: { by: event.by } }) },
                  ],
                },
              },
            },
          },
          invoke: {
            src: 'runSheet',
            input: ({ context }) => ({ jobId: context.jobId, sheetNum: context.sheetNum, attempt: context.attempt }),
            onDone: [
              { guard: 'stopCancel', target: '#job.cancelled' },
              { guard: 'stopInterrupt', target: '#job.interrupted' },
              {
                guard: ({ context, event }) => failed(event.output) && shouldRestart(context.restart, 'failed', context.run),
                target: '#job.pending',
                actions: assign({ outcome: ({ event }) => event.output, restartSheet: ({ context }) => context.sheetNum }),
              },
              { guard: ({ event }) => failed(event.output), target: '#job.failed', actions: assign({ outcome: ({ event }) => event.output }) },
              {
                guard: 'moreSheets',
                target: 'sheet',
                reenter: true,
                actions: assign({ sheetNum: ({ context }) => context.sheetNum + 1, outcome: ({ event }) => event.output }),
              },
              { guard: 'restartAfterCompletion', target: '#job.pending', actions: assign({ outcome: ({ event }) => event.output, restartSheet: 1 }) },
              { target: '#job.completed', actions: assign({ outcome: ({ event }) => event.output }) },
            ],
            onError: {
              target: '#job.failed',
              actions: assign({
                outcome: ({ event }) => ({
                  exit_code: null,
                  signal: null,
                  duration_seconds: 0,
                  reason: 'spawn_error' as const,
                  error: `internal error: ${String((event.error as Error)?.message ?? event.error)}`,
                }),
              }),
            },
          },
        },
      },
    },
    pending: {
      // Waiting for the backoff; no process, no slot. A cancel or interrupt ends it here.
      entry: [
        assign(({ context, self }) => {
          const delay = backoffSeconds(context.restart.backoff, context.run);
          return { restartDelay: delay, restartAt: clockNow(self) / 1000 + delay };
        }),
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.restart_scheduled',
            job_id: context.jobId,
            data: {
              attempt: context.attempt,
              next_attempt: context.attempt + 1,
              delay_seconds: context.restartDelay,
              restart_at: context.restartAt!,
              from_sheet: context.restartSheet,
              after: failed(context.outcome) ? 'failed' : 'completed',
              ...(failed(context.outcome) ? { reason: failureReason(context.outcome), sheet_num: context.sheetNum, exit_code: context.outcome?.exit_code ?? null } : {}),
            },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_RELEASED', jobId: context.jobId })),
      ],
      on: {
        CANCEL: { target: 'cancelled', actions: assign({ stop: ({ event }) => ({ kind: 'cancel' as const, reason: event.reason, by: event.by }) }) },
        INTERRUPT: { target: 'interrupted', actions: assign({ stop: ({ event }) => ({ kind: 'interrupt' as const, reason: event.reason }) }) },
      },
      after: {
        backoff: {
          target: 'queued',
          actions: [
            assign({
              attempt: ({ context }) => context.attempt + 1,
              run: ({ context }) => context.run + 1,
              sheetNum: ({ context }) => context.restartSheet,
              outcome: undefined,
              restartAt: undefined,
              wasRunning: false,
              paused: false,
            }),
            {
              type: 'record',
              params: ({ context }) => ({
                type: 'job.retried',
                job_id: context.jobId,
                data: { by: 'restart_policy', attempt: context.attempt, from_sheet: context.sheetNum, previous_status: 'pending' },
              }),
            },
            sendParent(({ context }) => ({ type: 'REQUEUE', jobId: context.jobId })),
          ],
        },
      },
    },
    completed: {
      type: 'final',
      entry: [
        assign({ endedAt: ({ self }) => clockNow(self) }),
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.completed',
            job_id: context.jobId,
            data: { duration_seconds: Math.round(context.endedAt - context.startedAt) / 1000 },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_ENDED', jobId: context.jobId })),
      ],
    },
    failed: {
      type: 'final',
      entry: [
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.failed',
            job_id: context.jobId,
            data: {
              reason: failureReason(context.outcome),
              sheet_num: context.sheetNum,
              exit_code: context.outcome?.exit_code ?? null,
            },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_ENDED', jobId: context.jobId })),
      ],
    },
    cancelled: {
      type: 'final',
      entry: [
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.cancelled',
            job_id: context.jobId,
            data: { reason: context.stop?.reason ?? 'cancelled', by: context.stop?.by ?? 'client' },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_ENDED', jobId: context.jobId })),
      ],
    },
    interrupted: {
      type: 'final',
      entry: [
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.interrupted',
            job_id: context.jobId,
            data: {
              reason: context.stop?.reason ?? 'conductor_shutdown',
              previous_status: context.restartAt !== undefined ? 'pending' : context.paused ? 'paused' : context.wasRunning ? 'running' : 'queued',
            },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_ENDED', jobId: context.jobId })),
      ],
    },
  },
});
