/**
 * Jobs through the socket, against a real conductor: submit, events in order, logs,
 * failure, timeout, cancel of a whole process tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { pidAlive, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { eventsUntilEnd } from '../helpers/jobs.js';

const fixture = useConductor({ config: { kill_grace_seconds: 1 } });


describe('job lifecycle', () => {
  it('runs sheets in order and records every step', async () => {
    const { job_id, seq } = await fixture.client.call('job.submit', {
      name: 'two-steps',
      sheets: [
        { argv: ['sh', '-c', 'echo out-one; echo err-one >&2'] },
        { argv: ['sh', '-c', 'echo out-two'] },
      ],
    });
    expect(typeof seq).toBe('number');
    const events = await eventsUntilEnd(fixture.client, job_id);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('job.submitted');
    expect(types.at(-1)).toBe('job.completed');
    const order = ['job.submitted', 'job.started', 'sheet.started', 'sheet.completed', 'job.completed'];
    let at = -1;
    for (const t of order) {
      const i = types.indexOf(t, at + 1);
      expect(i, `${t} after index ${at} in ${types.join(',')}`).toBeGreaterThan(at);
      at = i;
    }
    expect(types.filter((t) => t === 'sheet.completed')).toHaveLength(2);
    expect(types.filter((t) => t === 'process.spawn')).toHaveLength(2);
    expect(types.filter((t) => t === 'process.exit')).toHaveLength(2);
    const started = events.filter((e) => e.type === 'sheet.started');
    expect(started.map((e) => e.sheet_num)).toEqual([1, 2]);
    expect(typeof started[0]!.data.pid).toBe('number');
    const seqs = events.map((e) => e.seq!);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    const job = await fixture.client.call('job.get', { job_id });
    expect(job.status).toBe('completed');
    expect(job.sheets.map((s: any) => s.status)).toEqual(['completed', 'completed']);

    const logs = await fixture.client.call('job.logs', { job_id });
    const text = logs.lines.join('\n');
    expect(text).toMatch(/ 1 out out-one/);
    expect(text).toMatch(/ 1 err err-one/);
    expect(text).toMatch(/ 2 out out-two/);
    expect(text).toMatch(/ 1 sys /);
    expect(fs.existsSync(path.join(fixture.home, 'jobs', job_id, 'output.log'))).toBe(true);
  });

  it('fails the job when a sheet exits non-zero and skips the rest', async () => {
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', 'exit 3'] }, { argv: ['true'] }],
    });
    const events = await eventsUntilEnd(fixture.client, job_id);
    const failed = events.find((e) => e.type === 'sheet.failed')!;
    expect(failed.data).toMatchObject({ exit_code: 3, reason: 'exit_code' });
    expect(events.at(-1)!.type).toBe('job.failed');
    const job = await fixture.client.call('job.get', { job_id });
    expect(job.status).toBe('failed');
    expect(job.sheets[1].status).toBe('skipped');
  });

  it('reports a missing program as a spawn error, not a crash', async () => {
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['/nonexistent/program-xyz'] }] });
    const events = await eventsUntilEnd(fixture.client, job_id);
    expect(events.find((e) => e.type === 'sheet.failed')!.data.reason).toBe('spawn_error');
    expect(events.at(-1)!.type).toBe('job.failed');
    expect((await fixture.client.call('ping', {})).pong).toBe(true);
  });

  it('times a sheet out: SIGTERM, then SIGKILL for one that ignores it', async () => {
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', 'trap "" TERM; sleep 30'], timeout_seconds: 0.5 }],
    });
    const events = await eventsUntilEnd(fixture.client, job_id);
    const failed = events.find((e) => e.type === 'sheet.failed')!;
    expect(failed.data.reason).toBe('timeout');
    expect(events.at(-1)!.type).toBe('job.failed');
  });

  it('cancel kills the whole process tree', async () => {
    const pidFile = path.join(fixture.home, `grandchild-${Date.now()}.pid`);
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', `sleep 60 & echo $! > ${pidFile}; wait`] }],
    });
    const grandchild = await waitFor(() => {
      try {
        const n = Number(fs.readFileSync(pidFile, 'utf8'));
        return n > 0 ? n : 0;
      } catch {
        return 0;
      }
    }, 10_000, 'grandchild pid');
    expect(pidAlive(grandchild)).toBe(true);
    const res = await fixture.client.call('job.cancel', { job_id });
    expect(res.status).toBe('cancelled');
    await waitFor(() => !pidAlive(grandchild), 10_000, 'grandchild to die');
    const job = await fixture.client.call('job.get', { job_id });
    expect(job.status).toBe('cancelled');
    // A finished job cannot be cancelled again.
    const again = await fixture.client.call('job.cancel', { job_id }).catch((e) => e);
    expect(again).toBeInstanceOf(RpcError);
    expect(again.code).toBe(ErrorCode.INVALID_STATE);
  });

  it('rejects a duplicate job id and an unknown one with stable codes', async () => {
    await fixture.client.call('job.submit', { job_id: 'fixed-id', sheets: [{ argv: ['true'] }] });
    const dup = await fixture.client.call('job.submit', { job_id: 'fixed-id', sheets: [{ argv: ['true'] }] }).catch((e) => e);
    expect(dup.code).toBe(ErrorCode.JOB_EXISTS);
    const missing = await fixture.client.call('job.cancel', { job_id: 'never-was' }).catch((e) => e);
    expect(missing.code).toBe(ErrorCode.JOB_NOT_FOUND);
  });

  it('queues jobs beyond max_concurrent_jobs and lists them', async () => {
    const list = await fixture.client.call('job.list', { limit: 100 });
    expect(list.total).toBeGreaterThanOrEqual(5);
    expect(list.jobs[0].submitted_at).toBeGreaterThanOrEqual(list.jobs.at(-1).submitted_at);
  });
});
