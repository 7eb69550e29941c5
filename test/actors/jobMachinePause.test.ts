/**
 * The job machine's pause/resume transitions, driven directly with fakes: the sheet is a
 * promise the test settles, side effects are recorded calls.
 */
import { createActor, setup, type ActorRefFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine } from '../../src/actors/jobMachine.js';
import type { SheetOutcome } from '../../src/actors/sheetProcess.js';
import { fakeJobMachine } from '../helpers/jobMachineFakes.js';

function harness(sheetCount = 1) {
  const { machine, calls, recorded, finish } = fakeJobMachine((input) => `run ${input.sheetNum}`);
  // A job reports its end to its parent (the job manager machine): give it a minimal one.
  const ended: string[] = [];
  const parent = setup({ actors: { job: machine } }).createMachine({
    invoke: { id: 'job', src: 'job', input: { jobId: 'j1', sheetCount } },
    on: { JOB_ENDED: { actions: ({ event }) => void ended.push((event as unknown as { jobId: string }).jobId) } },
  });
  const root = createActor(parent);
  root.start();
  const actor = root.getSnapshot().children.job as ActorRefFrom<typeof jobMachine>;
  return { actor, calls, recorded, finish, ended };
}

const ok: SheetOutcome = { exit_code: 0, signal: null, duration_seconds: 1 };
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('job machine: pause and resume', () => {
  it('running → paused → running, with the side effects and events in order', async () => {
    const { actor, calls, recorded, finish } = harness(2);
    actor.send({ type: 'START' });
    expect(actor.getSnapshot().matches({ running: { sheet: 'active' } })).toBe(true);
    actor.send({ type: 'PAUSE', by: 'client' });
    expect(actor.getSnapshot().matches({ running: { sheet: 'paused' } })).toBe(true);
    actor.send({ type: 'PAUSE', by: 'client' }); // already paused: ignored
    actor.send({ type: 'RESUME', by: 'resource_monitor' });
    expect(actor.getSnapshot().matches({ running: { sheet: 'active' } })).toBe(true);
    expect(calls).toEqual(['run 1', 'pause', 'resume']);
    const mine = recorded.filter((e) => e.type === 'job.paused' || e.type === 'job.resumed');
    expect(mine).toEqual([
      { type: 'job.paused', job_id: 'j1', sheet_num: 1, data: { by: 'client' } },
      { type: 'job.resumed', job_id: 'j1', sheet_num: 1, data: { by: 'resource_monitor' } },
    ]);
    finish[0]!(ok);
    await tick();
    expect(actor.getSnapshot().matches({ running: { sheet: 'active' } })).toBe(true);
    expect(actor.getSnapshot().context.sheetNum).toBe(2);
    finish[1]!(ok);
    await tick();
    expect(actor.getSnapshot().value).toBe('completed');
  });

  it('ignores PAUSE and RESUME while queued, and RESUME while active', () => {
    const { actor, calls } = harness();
    actor.send({ type: 'PAUSE', by: 'client' });
    expect(actor.getSnapshot().value).toBe('queued');
    actor.send({ type: 'START' });
    actor.send({ type: 'RESUME', by: 'client' });
    expect(actor.getSnapshot().matches({ running: { sheet: 'active' } })).toBe(true);
    expect(calls).toEqual(['run 1']);
  });

  it('a paused job can be cancelled: stopSheet runs, the sheet ends, the job is cancelled', async () => {
    const { actor, calls, recorded, finish } = harness();
    actor.send({ type: 'START' });
    actor.send({ type: 'PAUSE', by: 'client' });
    actor.send({ type: 'CANCEL', reason: 'no longer needed', by: 'client' });
    expect(calls).toEqual(['run 1', 'pause', 'stop']);
    finish[0]!({ exit_code: null, signal: 'SIGTERM', duration_seconds: 1, reason: 'stopped' });
    await tick();
    expect(actor.getSnapshot().value).toBe('cancelled');
    expect(recorded.at(-1)).toMatchObject({ type: 'job.cancelled', data: { by: 'client' } });
  });
});
