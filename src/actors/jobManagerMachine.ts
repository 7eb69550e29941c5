/**
 * The job manager as an XState machine: spawns one job actor per submitted job, starts at
 * most `maxConcurrent` of them, and keeps the rest waiting in FIFO order. A job waiting for a
 * restart backoff holds no slot (`delayed`) and joins the end of the queue when it is over.
 */
import { assign, enqueueActions, sendTo, setup, spawnChild } from 'xstate';
import { jobMachine, type JobMachineInput } from './jobMachine.js';

interface ManagerContext {
  maxConcurrent: number;
  waiting: string[];
  running: string[];
  /** Jobs in a restart backoff. */
  delayed: string[];
  shuttingDown: boolean;
}

export type ManagerEvent =
  | ({ type: 'SUBMIT' } & JobMachineInput)
  | { type: 'JOB_RELEASED' | 'REQUEUE'; jobId: string }
  | { type: 'CANCEL'; jobId: string; reason: string; by: 'client' | 'resource_monitor' }
  | { type: 'JOB_ENDED'; jobId: string }
  | { type: 'SET_MAX_CONCURRENT'; max: number }
  | { type: 'PAUSE' | 'RESUME'; jobId: string; by: 'client' | 'resource_monitor' }
  | { type: 'SHUTDOWN'; reason: string };

export const jobManagerMachine = setup({
  types: {
    context: {} as ManagerContext,
    events: {} as ManagerEvent,
    input: {} as { maxConcurrent: number },
  },
  actors: { job: jobMachine },
  actions: {
    /** Move waiting jobs to running while there are free slots. */
    startWaiting: enqueueActions(({ context, enqueue }) => {
      if (context.shuttingDown) return;
      const waiting = [...context.waiting];
      const running = [...context.running];
      while (running.length < context.maxConcurrent && waiting.length > 0) {
        const id = waiting.shift()!;
        running.push(id);
        enqueue.sendTo(id, { type: 'START' });
      }
      enqueue.assign({ waiting, running });
    }),
  },
}).createMachine({
  id: 'jobManager',
  context: ({ input }) => ({ maxConcurrent: input.maxConcurrent, waiting: [], running: [], delayed: [], shuttingDown: false }),
  on: {
    SUBMIT: {
      guard: ({ context }) => !context.shuttingDown,
      actions: [
        spawnChild('job', {
          id: ({ event }) => (event as Extract<ManagerEvent, { type: 'SUBMIT' }>).jobId,
          input: ({ event }) => {
            const { type: _, ...input } = event as Extract<ManagerEvent, { type: 'SUBMIT' }>;
            return input;
          },
        }),
        assign({ waiting: ({ context, event }) => [...context.waiting, event.jobId] }),
        'startWaiting',
      ],
    },
    PAUSE: { actions: sendTo(({ event }) => event.jobId, ({ event }) => ({ type: 'PAUSE' as const, by: event.by })) },
    RESUME: { actions: sendTo(({ event }) => event.jobId, ({ event }) => ({ type: 'RESUME' as const, by: event.by })) },
    CANCEL: {
      actions: sendTo(({ event }) => event.jobId, ({ event }) => ({ type: 'CANCEL' as const, reason: event.reason, by: event.by })),
    },
    JOB_RELEASED: {
      actions: [
        assign({
          running: ({ context, event }) => context.running.filter((id) => id !== event.jobId),
          delayed: ({ context, event }) => [...context.delayed, event.jobId],
        }),
        'startWaiting',
      ],
    },
    REQUEUE: {
      actions: [
        assign({
          delayed: ({ context, event }) => context.delayed.filter((id) => id !== event.jobId),
          waiting: ({ context, event }) => [...context.waiting, event.jobId],
        }),
        'startWaiting',
      ],
    },
    JOB_ENDED: {
      actions: [
        assign({
          waiting: ({ context, event }) => context.waiting.filter((id) => id !== event.jobId),
          running: ({ context, event }) => context.running.filter((id) => id !== event.jobId),
          delayed: ({ context, event }) => context.delayed.filter((id) => id !== event.jobId),
        }),
        'startWaiting',
      ],
    },
    SET_MAX_CONCURRENT: {
      actions: [assign({ maxConcurrent: ({ event }) => event.max }), 'startWaiting'],
    },
    SHUTDOWN: {
      actions: [
        assign({ shuttingDown: true }),
        enqueueActions(({ context, event, enqueue }) => {
          for (const id of [...context.running, ...context.waiting, ...context.delayed]) {
            enqueue.sendTo(id, { type: 'INTERRUPT', reason: event.reason });
          }
        }),
      ],
    },
  },
});
