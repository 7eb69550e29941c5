/**
 * The job machine's restarts and retries, driven directly with fakes and XState's simulated
 * clock: the backoff is the machine's own `after` transition, so the test moves time itself,
 * and the times the machine records (restart_at, durations) are read from that clock too.
 */
import { createActor, sendTo, setup, SimulatedClock, type ActorRefFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine, type JobMachineInput } from '../../src/actors/jobMachine.js';
import { normalizeRestartPolicy, type RestartPolicyInput } from '../../src/actors/restartPolicy.js';
import type { SheetOutcome } from '../../src/actors/sheetProcess.js';
import type { NewEvent } from '../../src/events/types.js';
import { fakeJobMachine } from '../helpers/jobMachineFakes.js';

function harness(input: Omit<JobMachineInput, 'jobId'>) {
  const { machine, calls, recorded, finish } = fakeJobMachine((input) => `run ${input.sheetNum} attempt ${input.attempt}`);
  // A stand-in for the job manager machine: it notes slot releases and starts a requeued job.
  const parentSaw: string[] = [];
  const parent = setup({ actors: { job: machine } }).createMachine({
    invoke: { id: 'job', src: 'job', input: { jobId: 'j1', ...input } },
    on: {
      JOB_ENDED: { actions: () => void parentSaw.push('ended') },
      JOB_RELEASED: { actions: () => void parentSaw.push('released') },
      REQUEUE: { actions: [() => void parentSaw.push('requeue'), sendTo('job', { type: 'START' })] },
    },
  });
  const clock = new SimulatedClock();
  const root = createActor(parent, { clock });
  root.start();
  const actor = root.getSnapshot().children.job as ActorRefFrom<typeof jobMachine>;
  const last = () => finish.at(-1)!;
  return { actor, calls, recorded, last, parentSaw, clock };
}

const policy = (p: RestartPolicyInput) => normalizeRestartPolicy(p);
const ok: SheetOutcome = { exit_code: 0, signal: null, duration_seconds: 1 };
const bad: SheetOutcome = { exit_code: 3, signal: null, duration_seconds: 1 };
const tick = () => new Promise((r) => setTimeout(r, 0));
const ofType = (rec: NewEvent[], type: string) => rec.filter((e) => e.type === type);

describe('job machine: restart policy', () => {
  it('a failed sheet waits in pending for the backoff, then runs again from that sheet with the next attempt', async () => {
    const h = harness({ sheetCount: 3, restart: policy({ on: 'failure', max_attempts: 3, backoff: { initial_seconds: 1, factor: 2, max_seconds: 60 } }) });
    h.actor.send({ type: 'START' });
    h.last()(ok);
    await tick();
    h.last()(bad); // sheet 2 fails
    await tick();
    expect(h.actor.getSnapshot().value).toBe('pending');
    expect(h.parentSaw).toEqual(['released']);
    expect(ofType(h.recorded, 'job.restart_scheduled')[0]!.data).toMatchObject({
      attempt: 1,
      next_attempt: 2,
      delay_seconds: 1,
      from_sheet: 2,
      after: 'failed',
      reason: 'exit code 3',
      sheet_num: 2,
      exit_code: 3,
    });
    h.clock.increment(999);
    expect(h.actor.getSnapshot().value).toBe('pending'); // not before the backoff
    h.clock.increment(1);
    expect(h.parentSaw).toEqual(['released', 'requeue']);
    expect(h.actor.getSnapshot().matches('running')).toBe(true);
    expect(ofType(h.recorded, 'job.retried')[0]!.data).toEqual({ by: 'restart_policy', attempt: 2, from_sheet: 2, previous_status: 'pending' });
    expect(ofType(h.recorded, 'job.started').map((e) => e.data)).toEqual([
      { attempt: 1, from_sheet: 1 },
      { attempt: 2, from_sheet: 2 },
    ]);
    // Sheet 1 completed: it is not run again.
    expect(h.calls).toEqual(['run 1 attempt 1', 'run 2 attempt 1', 'run 2 attempt 2']);
    h.last()(ok);
    await tick();
    h.last()(ok);
    await tick();
    expect(h.actor.getSnapshot().value).toBe('completed');
    expect(h.parentSaw.at(-1)).toBe('ended');
  });

  it('max_attempts counts runs: the third failure of max_attempts 3 ends the job failed', async () => {
    const h = harness({ sheetCount: 1, restart: policy({ max_attempts: 3, backoff: { initial_seconds: 1, factor: 2, max_seconds: 60 } }) });
    h.actor.send({ type: 'START' });
    for (const wait of [1000, 2000]) {
      h.last()(bad);
      await tick();
      expect(h.actor.getSnapshot().value).toBe('pending');
      h.clock.increment(wait);
    }
    h.last()(bad);
    await tick();
    expect(h.actor.getSnapshot().value).toBe('failed');
    expect(ofType(h.recorded, 'job.restart_scheduled').map((e) => e.data!.delay_seconds)).toEqual([1, 2]);
    expect(ofType(h.recorded, 'job.failed')).toHaveLength(1);
    expect(h.calls).toEqual(['run 1 attempt 1', 'run 1 attempt 2', 'run 1 attempt 3']);
  });

  it('the delay grows by factor and stops at max_seconds (the cap)', async () => {
    const h = harness({ sheetCount: 1, restart: policy({ max_attempts: 6, backoff: { initial_seconds: 1, factor: 3, max_seconds: 5 } }) });
    h.actor.send({ type: 'START' });
    for (let i = 0; i < 5; i++) {
      h.last()(bad);
      await tick();
      const delay = ofType(h.recorded, 'job.restart_scheduled').at(-1)!.data!.delay_seconds as number;
      h.clock.increment(delay * 1000 - 1);
      expect(h.actor.getSnapshot().value).toBe('pending');
      h.clock.increment(1);
      expect(h.actor.getSnapshot().matches('running')).toBe(true);
    }
    expect(ofType(h.recorded, 'job.restart_scheduled').map((e) => e.data!.delay_seconds)).toEqual([1, 3, 5, 5, 5]);
  });

  it('a cancel while pending ends the job cancelled; the backoff never fires', async () => {
    const h = harness({ sheetCount: 1, restart: policy({ backoff: { initial_seconds: 1 } }) });
    h.actor.send({ type: 'START' });
    h.last()(bad);
    await tick();
    h.actor.send({ type: 'CANCEL', reason: 'enough', by: 'client' });
    expect(h.actor.getSnapshot().value).toBe('cancelled');
    h.clock.increment(60_000);
    expect(h.calls).toEqual(['run 1 attempt 1']);
    expect(ofType(h.recorded, 'job.retried')).toEqual([]);
    expect(h.recorded.at(-1)).toMatchObject({ type: 'job.cancelled', data: { reason: 'enough', by: 'client' } });
  });

  it('an interrupt while pending (shutdown) ends it interrupted with previous_status pending', async () => {
    const h = harness({ sheetCount: 1, restart: policy({}) });
    h.actor.send({ type: 'START' });
    h.last()(bad);
    await tick();
    h.actor.send({ type: 'INTERRUPT', reason: 'conductor_shutdown' });
    expect(h.recorded.at(-1)).toMatchObject({ type: 'job.interrupted', data: { reason: 'conductor_shutdown', previous_status: 'pending' } });
  });

  it('a cancelled run is never restarted, by a person or by the resource monitor', async () => {
    for (const by of ['client', 'resource_monitor'] as const) {
      const h = harness({ sheetCount: 1, restart: policy({ on: 'always', max_attempts: 5 }) });
      h.actor.send({ type: 'START' });
      h.actor.send({ type: 'CANCEL', reason: 'stop', by });
      h.last()({ exit_code: null, signal: 'SIGTERM', duration_seconds: 1, reason: 'stopped' });
      await tick();
      expect(h.actor.getSnapshot().value).toBe('cancelled');
      expect(ofType(h.recorded, 'job.restart_scheduled')).toEqual([]);
    }
  });

  it('on: always runs a completed job again from sheet 1; on: never and no policy end at the first failure', async () => {
    const h = harness({ sheetCount: 2, restart: policy({ on: 'always', max_attempts: 2, backoff: { initial_seconds: 0 } }) });
    h.actor.send({ type: 'START' });
    h.last()(ok);
    await tick();
    h.last()(ok);
    await tick();
    expect(ofType(h.recorded, 'job.restart_scheduled')[0]!.data).toMatchObject({ after: 'completed', from_sheet: 1, delay_seconds: 0 });
    h.clock.increment(0);
    h.last()(ok);
    await tick();
    h.last()(ok);
    await tick();
    expect(h.actor.getSnapshot().value).toBe('completed');
    expect(h.calls).toEqual(['run 1 attempt 1', 'run 2 attempt 1', 'run 1 attempt 2', 'run 2 attempt 2']);

    for (const restart of [policy({ on: 'never' }), undefined]) {
      const n = harness({ sheetCount: 1, ...(restart ? { restart } : {}) });
      n.actor.send({ type: 'START' });
      n.last()(bad);
      await tick();
      expect(n.actor.getSnapshot().value).toBe('failed');
    }
  });

  it('restart_at and duration_seconds are read from the actor clock (simulated time), not the wall clock', async () => {
    const h = harness({ sheetCount: 1, restart: policy({ on: 'failure', max_attempts: 2, backoff: { initial_seconds: 5 } }) });
    h.clock.set(1_000_000); // 1,000 s after the epoch: nowhere near Date.now()
    h.actor.send({ type: 'START' });
    h.clock.increment(2_500);
    h.last()(bad);
    await tick();
    expect(ofType(h.recorded, 'job.restart_scheduled')[0]!.data).toMatchObject({ delay_seconds: 5, restart_at: 1_007.5 });
    h.clock.increment(5_000); // the backoff: run 2 starts at 1,007.5 s
    expect(h.actor.getSnapshot().matches('running')).toBe(true);
    h.clock.increment(1_250);
    h.last()(ok);
    await tick();
    // The duration is run 2's, on the simulated clock (no real time passes in between).
    expect(ofType(h.recorded, 'job.completed')[0]!.data).toEqual({ duration_seconds: 1.25 });
  });

  it('a retried job starts at startSheet with its attempt, and its policy gets a new series', async () => {
    const h = harness({ sheetCount: 3, startSheet: 3, attempt: 4, restart: policy({ max_attempts: 2, backoff: { initial_seconds: 1 } }) });
    h.actor.send({ type: 'START' });
    expect(h.recorded[0]).toEqual({ type: 'job.started', job_id: 'j1', data: { attempt: 4, from_sheet: 3 } });
    h.last()(bad);
    await tick();
    expect(h.actor.getSnapshot().value).toBe('pending'); // run 1 of the new series
    h.clock.increment(1000);
    h.last()(bad);
    await tick();
    expect(h.actor.getSnapshot().value).toBe('failed');
    expect(h.calls).toEqual(['run 3 attempt 4', 'run 3 attempt 5']);
  });
});
