/**
 * job.pause / job.resume against a real conductor: SIGSTOP/SIGCONT of the sheet's whole tree
 * (seen in /proc), the timeout held while paused, clear errors for other states, cancel of a
 * paused job, and kill -9 of the conductor while a job is paused.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { makeHome, pidAlive, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { eventsUntilEnd, sheetPid } from '../helpers/jobs.js';

const fixture = useConductor({ prefix: 'mzt-pause-', config: { kill_grace_seconds: 2 } });

/** State letter (R, S, T, Z…) of every live process in process group `pgid`, from /proc. */
function groupStates(pgid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.set(Number(name), fields[0]!);
  }
  return out;
}

// A sheet with a few children: three sleepers under a shell.
const TREE = ['sh', '-c', 'sleep 60 & sleep 60 & sleep 60 & wait'];

/** A tree whose shell writes `marker` when SIGTERM reaches it: proof it ran, not just SIGKILL. */
const trapTree = (marker: string) => ['sh', '-c', `trap 'echo term > ${marker}; exit 0' TERM; sleep 60 & sleep 60 & while :; do sleep 0.2; done`];

async function startedPid(job_id: string): Promise<number> {
  return sheetPid(fixture.client, job_id);
}

async function expectCode(p: Promise<unknown>, code: number): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RpcError);
  expect((err as RpcError).code).toBe(code);
  return err as RpcError;
}

describe('pause and resume', () => {
  it('stops every process of the tree (T) and continues them (S/R), with events and status', async () => {
    const { job_id } = await fixture.client.call('job.submit', { name: 'tree', sheets: [{ argv: TREE }] });
    const pid = await startedPid(job_id);
    await waitFor(() => groupStates(pid).size >= 4, 10_000, 'four processes in the group');

    expect(await fixture.client.call('job.pause', { job_id })).toEqual({ job_id, status: 'paused' });
    const stopped = await waitFor(() => {
      const s = groupStates(pid);
      return [...s.values()].every((st) => st === 'T') ? s : undefined;
    }, 10_000, 'every process stopped');
    expect(stopped.size).toBeGreaterThanOrEqual(4);
    expect((await fixture.client.call('job.get', { job_id })).status).toBe('paused');
    const listed = await fixture.client.call('job.list', { status: ['paused'], limit: 10 });
    expect(listed.jobs.map((j) => j.job_id)).toContain(job_id);
    const status = await fixture.client.call('daemon.status', {});
    expect(status.paused_jobs).toBe(1);
    expect(status.running_jobs).toBeGreaterThanOrEqual(1); // a paused job keeps its slot

    // Pausing twice is a clear error naming the state.
    const again = await expectCode(fixture.client.call('job.pause', { job_id }), ErrorCode.INVALID_STATE);
    expect(again.message).toContain('paused');

    expect(await fixture.client.call('job.resume', { job_id })).toEqual({ job_id, status: 'running' });
    await waitFor(() => {
      const s = groupStates(pid);
      return s.size >= 4 && [...s.values()].every((st) => st === 'S' || st === 'R');
    }, 10_000, 'every process continued');
    expect((await fixture.client.call('job.get', { job_id })).status).toBe('running');

    await fixture.client.call('job.cancel', { job_id });
    const events = await eventsUntilEnd(fixture.client, job_id);
    const paused = events.find((e) => e.type === 'job.paused')!;
    const resumed = events.find((e) => e.type === 'job.resumed')!;
    expect(paused.data).toEqual({ by: 'client' });
    expect(resumed.data).toEqual({ by: 'client' });
    expect(resumed.seq!).toBeGreaterThan(paused.seq!);
  });

  it('holds the timeout while paused: a 2 s timeout paused for 4 s still completes', async () => {
    const { job_id } = await fixture.client.call('job.submit', {
      name: 'timeout-held',
      sheets: [{ argv: ['sh', '-c', 'sleep 1.2; echo done'], timeout_seconds: 2 }],
    });
    await startedPid(job_id);
    await fixture.client.call('job.pause', { job_id });
    await new Promise((r) => setTimeout(r, 4000));
    await fixture.client.call('job.resume', { job_id });
    const events = await eventsUntilEnd(fixture.client, job_id);
    expect(events.at(-1)!.type).toBe('job.completed');
  }, 30_000);

  it('refuses to pause a job that is not running, naming its state', async () => {
    const done = await fixture.client.call('job.submit', { name: 'quick', sheets: [{ argv: ['true'] }] });
    await eventsUntilEnd(fixture.client, done.job_id);
    const err = await expectCode(fixture.client.call('job.pause', { job_id: done.job_id }), ErrorCode.INVALID_STATE);
    expect(err.message).toContain('completed');
    const resumeErr = await expectCode(fixture.client.call('job.resume', { job_id: done.job_id }), ErrorCode.INVALID_STATE);
    expect(resumeErr.message).toContain('completed');
    await expectCode(fixture.client.call('job.pause', { job_id: 'no-such-job' }), ErrorCode.JOB_NOT_FOUND);

    const { job_id } = await fixture.client.call('job.submit', { name: 'running', sheets: [{ argv: ['sleep', '30'] }] });
    await startedPid(job_id);
    const notPaused = await expectCode(fixture.client.call('job.resume', { job_id }), ErrorCode.INVALID_STATE);
    expect(notPaused.message).toContain('running');
    await fixture.client.call('job.cancel', { job_id });
  });

  it('cancels a paused job promptly (the stopped tree is continued so SIGTERM acts)', async () => {
    const marker = `${fixture.home}/cancel-paused.term`;
    const { job_id } = await fixture.client.call('job.submit', { name: 'cancel-paused', sheets: [{ argv: trapTree(marker) }] });
    const pid = await startedPid(job_id);
    await waitFor(() => groupStates(pid).size >= 4, 10_000, 'four processes');
    await fixture.client.call('job.pause', { job_id });
    // The trap tree's shell forks `sleep 0.2` all the time, and dash starts commands with vfork:
    // a SIGSTOP that lands between vfork and exec stops the child (T) while the shell waits
    // for it in the kernel (D) until it is continued. Both are frozen.
    const frozen = (states: string[]) => states.every((s) => s === 'T' || s === 'D') && states.some((s) => s === 'T');
    await waitFor(() => frozen([...groupStates(pid).values()]), 10_000, 'stopped').catch((err: Error) => {
      throw new Error(`${err.message}: group ${pid} states ${JSON.stringify([...groupStates(pid)])}, job ${JSON.stringify(job_id)}`);
    });
    const t0 = Date.now();
    expect(await fixture.client.call('job.cancel', { job_id })).toEqual({ job_id, status: 'cancelled' });
    const took = Date.now() - t0;
    expect(took).toBeLessThan(10_000);
    await waitFor(() => groupStates(pid).size === 0, 10_000, 'the group gone');
    const events = await eventsUntilEnd(fixture.client, job_id);
    expect(events.at(-1)!.type).toBe('job.cancelled');
    expect(fs.existsSync(marker), 'SIGTERM acted (not only the SIGKILL after the grace period)').toBe(true);
    console.log(`cancel of a paused 4-process job took ${took} ms`);
  });
});

describe('conductor shutdown while a job is paused', () => {
  it('stops the tree and closes the job as interrupted', async () => {
    const h = makeHome('mzt-pause-stop-');
    let c = await startConductor(h, { config: { kill_grace_seconds: 3 } });
    let cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      const { job_id } = await cl.call('job.submit', { name: 'paused-stop', sheets: [{ argv: TREE }] });
      const pid = await sheetPid(cl, job_id, 10_000, 'pid');
      await waitFor(() => groupStates(pid).size >= 4, 10_000, 'four processes');
      await cl.call('job.pause', { job_id });
      await waitFor(() => [...groupStates(pid).values()].every((s) => s === 'T'), 10_000, 'stopped');
      await cl.close();
      const t0 = Date.now();
      await c.stop();
      console.log(`shutdown with a paused job took ${Date.now() - t0} ms`);
      expect(groupStates(pid).size).toBe(0);
      c = await startConductor(h, { config: { kill_grace_seconds: 3 } });
      cl = await DaemonClient.connect({ socketPath: c.socketPath });
      const job = await cl.call('job.get', { job_id });
      expect(job.status).toBe('interrupted');
      expect(job.reason).toBe('conductor_shutdown');
      const events = await eventsUntilEnd(cl, job_id);
      expect(events.at(-1)!.data).toMatchObject({ reason: 'conductor_shutdown', previous_status: 'paused' });
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  }, 60_000);
});

describe('kill -9 of the conductor while a job is paused', () => {
  it('closes the job as interrupted after restart and leaves no process', async () => {
    const h = makeHome('mzt-pause-k9-');
    let c = await startConductor(h, { config: { kill_grace_seconds: 3 } });
    const marker = `${h}/paused-crash.term`; // the trap's file (not asserted: see the report)
    let cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      const { job_id } = await cl.call('job.submit', { name: 'paused-crash', sheets: [{ argv: trapTree(marker) }] });
      const pid = await sheetPid(cl, job_id, 10_000, 'pid');
      await waitFor(() => groupStates(pid).size >= 4, 10_000, 'four processes');
      await cl.call('job.pause', { job_id });
      await waitFor(() => [...groupStates(pid).values()].every((s) => s === 'T'), 10_000, 'stopped');
      await cl.close();
      await c.kill9();
      // Linux sends SIGHUP + SIGCONT to a stopped process group orphaned by its parent's death,
      // so what is left depends on the sheet; the restart must close the job either way.
      await new Promise((r) => setTimeout(r, 500));
      console.log(`0.5 s after kill -9 the paused group is: ${JSON.stringify([...groupStates(pid).values()])}`);

      c = await startConductor(h, { config: { kill_grace_seconds: 3 } });
      cl = await DaemonClient.connect({ socketPath: c.socketPath });
      const job = await cl.call('job.get', { job_id });
      expect(job.status).toBe('interrupted');
      const events = await eventsUntilEnd(cl, job_id);
      expect(events.at(-1)!.data).toMatchObject({ reason: 'conductor_restarted', previous_status: 'paused' });
      await waitFor(() => groupStates(pid).size === 0 && !pidAlive(pid), 15_000, 'no process left');
      // The orphan stopper continued the stopped tree, so SIGTERM ended it: no SIGKILL needed.
      const orphanLines = c.output().split('\n').filter((l) => l.includes('orphaned sheet'));
      expect(orphanLines.some((l) => l.includes('with SIGTERM'))).toBe(true);
      expect(orphanLines.filter((l) => l.includes('with SIGKILL'))).toEqual([]);
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  }, 60_000);
});
