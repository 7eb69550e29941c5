/**
 * Two facts a client could not see before, against a real conductor: a job's own `limits`
 * in its record (job.get, job.list, `mzt job`), and `pending_jobs` in daemon.status while a
 * job waits out a restart backoff (and `mzt conductor status`'s line for it).
 */
import { describe, expect, it } from 'vitest';
import { validateValue } from '../../src/ipc/schema.js';
import { runMzt } from '../helpers/cli.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ prefix: 'mzt-extras-' });

async function mzt(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runMzt(fixture.home, args);
  if (code !== 0) throw new Error(`mzt ${args.join(' ')} exited ${code}: ${stderr}`);
  return stdout;
}

describe('job records and daemon.status', () => {
  it('a job submitted with limits shows them in job.get, job.list and mzt job', async () => {
    const limits = { memory_mb: 512, processes: 40 };
    const { job_id } = await fixture.client.call('job.submit', { name: 'limited', limits, sheets: [{ argv: ['true'] }] });
    const plain = await fixture.client.call('job.submit', { name: 'unlimited', sheets: [{ argv: ['true'] }] });
    const job = await waitFor(async () => {
      const j = await fixture.client.call('job.get', { job_id });
      return j.status === 'completed' ? j : undefined;
    }, 20_000, 'the limited job completed');
    expect(job.limits).toEqual(limits);
    expect(validateValue('methods.json#/methods/job.get/result', job).ok).toBe(true);
    expect((await fixture.client.call('job.get', { job_id: plain.job_id })).limits).toBeUndefined();
    const listed = (await fixture.client.call('job.list', {})).jobs.find((j: { job_id: string }) => j.job_id === job_id);
    expect(listed?.limits).toEqual(limits);
    expect(await mzt(['job', job_id])).toMatch(/^limits\s+memory 512 MB, 40 processes$/m);
  }, 60_000);

  it('a failing job with a restart policy counts in pending_jobs during its backoff, and not after', async () => {
    const before = await fixture.client.call('daemon.status', {});
    expect(before.pending_jobs).toBe(0);
    const { job_id } = await fixture.client.call('job.submit', {
      name: 'backs-off',
      sheets: [{ argv: ['false'] }],
      restart: { on: 'failure', max_attempts: 2, backoff: { initial_seconds: 3, factor: 1, max_seconds: 3 } },
    });
    const during = await waitFor(async () => {
      const s = await fixture.client.call('daemon.status', {});
      return s.pending_jobs === 1 ? s : undefined;
    }, 20_000, 'pending_jobs 1');
    expect(validateValue('methods.json#/methods/daemon.status/result', during).ok).toBe(true);
    expect((await fixture.client.call('job.get', { job_id })).status).toBe('pending');
    expect(during.running_jobs + during.queued_jobs).toBe(0);
    expect(await mzt(['conductor', 'status'])).toMatch(/1 waiting to restart/);
    // Its second run fails too, and with no attempts left the job ends: no longer pending.
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'failed', 20_000, 'failed for good');
    expect((await fixture.client.call('daemon.status', {})).pending_jobs).toBe(0);
  }, 60_000);
});
