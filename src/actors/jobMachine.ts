/**
 * One job as an XState machine: queued → running (its sheets one after another) →
 * completed | failed | cancelled | interrupted. Pure definition: running a sheet
 * (`runSheet`), stopping it (`stopSheet`) and recording events (`record`) are provided by
 * the job manager, so the machine can be driven by fakes in tests.
 */
import { assign, fromPromise, sendParent, setup } from 'xstate';
import type { NewEvent } from '../events/types.js';
import type { SheetOutcome } from './sheetProcess.js';

export interface JobMachineInput {
  jobId: string;
  sheetCount: number;
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
  startedAt: number;
  wasRunning: boolean;
  /** Whether the sheet is stopped by PAUSE (kept when the job ends, for `previous_status`). */
  paused: boolean;
}

export type JobEvent =
  | { type: 'START' }
  | { type: 'CANCEL'; reason: string; by: 'client' | 'resource_monitor' }
  | { type: 'INTERRUPT'; reason: string }
  | { type: 'PAUSE'; by: PauseBy }
  | { type: 'RESUME'; by: PauseBy };

export type PauseBy = 'client' | 'resource_monitor';

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
    runSheet: fromPromise<SheetOutcome, { jobId: string; sheetNum: number }>(async () => {
      throw new Error('runSheet not provided');
    }),
  },
  guards: {
    stopCancel: ({ context }) => context.stop?.kind === 'cancel',
    stopInterrupt: ({ context }) => context.stop?.kind === 'interrupt',
    sheetFailed: ({ context }) => failed(context.outcome),
    moreSheets: ({ context }) => context.sheetNum < context.sheetCount,
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({
    jobId: input.jobId,
    sheetCount: input.sheetCount,
    sheetNum: 1,
    stop: undefined,
    outcome: undefined,
    startedAt: 0,
    wasRunning: false,
    paused: false,
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
        assign({ startedAt: () => Date.now(), wasRunning: true }),
        { type: 'record', params: ({ context }) => ({ type: 'job.started', job_id: context.jobId, data: {} }) },
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
            input: ({ context }) => ({ jobId: context.jobId, sheetNum: context.sheetNum }),
            onDone: [
              { guard: 'stopCancel', target: '#job.cancelled' },
              { guard: 'stopInterrupt', target: '#job.interrupted' },
              { guard: ({ event }) => failed(event.output), target: '#job.failed', actions: assign({ outcome: ({ event }) => event.output }) },
              {
                guard: 'moreSheets',
                target: 'sheet',
                reenter: true,
                actions: assign({ sheetNum: ({ context }) => context.sheetNum + 1, outcome: ({ event }) => event.output }),
              },
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
    completed: {
      type: 'final',
      entry: [
        {
          type: 'record',
          params: ({ context }) => ({
            type: 'job.completed',
            job_id: context.jobId,
            data: { duration_seconds: Math.round(Date.now() - context.startedAt) / 1000 },
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
            data: { reason: context.stop?.reason ?? 'conductor_shutdown', previous_status: context.paused ? 'paused' : context.wasRunning ? 'running' : 'queued' },
          }),
        },
        sendParent(({ context }) => ({ type: 'JOB_ENDED', jobId: context.jobId })),
      ],
    },
  },
});
