/**
 * Restart policies against a real conductor: a failing job is run again from its failed sheet
 * after a growing, capped backoff (seen in the events' timestamps), visible as `pending` with
 * `restart_at` meanwhile; a cancelled job is never restarted; a cancel during the backoff ends
 * it; shutdown and kill -9 with jobs paused or in a backoff close them as interrupted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { makeHome, pidAlive, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { rpcError, sheetPid, validJobEvents, waitStatus } from '../helpers/jobs.js';
import { runMzt } from '../helpers/cli.js';

const fixture = useConductor({ prefix: 'mzt-restart-', config: { kill_grace_seconds: 1 } });

describe('restart policy', () => {
  it('restarts a failing sheet with increasing, capped delays and stops after max_attempts', async () => {
    const F = path.join(fixture.home, 'always-fails.txt');
    const job_id = 'restart-fails';
    await fixture.client.call('job.submit', {
      job_id,
      env: { F },
      sheets: [{ argv: ['sh', '-c', 'echo first >> "$F.1"'] }, { argv: ['sh', '-c', 'echo run >> "$F"; exit 3'] }],
      restart: { on: 'failure', max_attempts: 4, backoff: { initial_seconds: 0.4, factor: 2, max_seconds: 1 } },
    });
    // While waiting for the first backoff the job is pending with restart_at.
    const pending = await waitStatus(fixture.client, job_id, 'pending');
    expect(pending.restart_at).toBeGreaterThan(Date.now() / 1000 - 1);
    expect(pending.attempt).toBe(1);
    expect(pending.restart).toEqual({ on: 'failure', max_attempts: 4, backoff: { initial_seconds: 0.4, factor: 2, max_seconds: 1 } });

    const failed = await waitStatus(fixture.client, job_id, 'failed');
    expect(failed.attempt).toBe(4);
    expect(failed.restart_at).toBeUndefined();
    expect(fs.readFileSync(F, 'utf8')).toBe('run\nrun\nrun\nrun\n');
    expect(fs.readFileSync(`${F}.1`, 'utf8')).toBe('first\n'); // sheet 1 ran once

    const events = await validJobEvents(fixture.client, job_id);
    const scheduled = events.filter((e) => e.type === 'job.restart_scheduled');
    const retried = events.filter((e) => e.type === 'job.retried');
    expect(scheduled.map((e) => e.data.delay_seconds)).toEqual([0.4, 0.8, 1]); // ×2, then the cap
    expect(scheduled.map((e) => e.data.attempt)).toEqual([1, 2, 3]);
    expect(retried.map((e) => e.data)).toEqual([2, 3, 4].map((attempt) => ({ by: 'restart_policy', attempt, from_sheet: 2, previous_status: 'pending' })));
    expect(events.filter((e) => e.type === 'job.started').map((e) => e.data.attempt)).toEqual([1, 2, 3, 4]);
    expect(events.filter((e) => e.type === 'sheet.failed').map((e) => e.data.attempt)).toEqual([1, 2, 3, 4]);
    expect(events.filter((e) => e.type === 'job.failed')).toHaveLength(1);
    // The waits, from the events' own timestamps: each at least its delay, and growing until the cap.
    const waits = scheduled.map((s, i) => retried[i]!.ts - s.ts);
    console.log(`restart waits (s): ${waits.map((w) => w.toFixed(3)).join(', ')} for delays 0.4, 0.8, 1`);
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual((scheduled[i]!.data.delay_seconds as number) - 0.005);
      expect(w).toBeLessThan((scheduled[i]!.data.delay_seconds as number) + 1);
    });
    expect(waits[1]!).toBeGreaterThan(waits[0]!);
  }, 30_000);

  it('a job that succeeds on its second run completes with attempt 2', async () => {
    const F = path.join(fixture.home, 'second-time.txt');
    const job_id = 'restart-recovers';
    await fixture.client.call('job.submit', {
      job_id,
      env: { F },
      sheets: [{ argv: ['sh', '-c', 'echo x >> "$F"; [ "$(wc -l < "$F")" -ge 2 ]'] }],
      restart: { max_attempts: 3, backoff: { initial_seconds: 0.2 } },
    });
    const done = await waitStatus(fixture.client, job_id, 'completed');
    expect(done.attempt).toBe(2);
    expect(fs.readFileSync(F, 'utf8')).toBe('x\nx\n');
  });

  it('never restarts a job a person cancelled, and a cancel during the backoff ends it there', async () => {
    const job_id = 'restart-cancelled';
    await fixture.client.call('job.submit', {
      job_id,
      sheets: [{ argv: ['sleep', '60'] }],
      restart: { on: 'always', max_attempts: 5, backoff: { initial_seconds: 0.1 } },
    });
    await sheetPid(fixture.client, job_id, 10_000, 'running');
    await fixture.client.call('job.cancel', { job_id });
    await new Promise((r) => setTimeout(r, 1000)); // ten backoffs' worth
    const after = await fixture.client.call('job.get', { job_id });
    expect(after).toMatchObject({ status: 'cancelled', attempt: 1 });
    const types = (await validJobEvents(fixture.client, job_id)).map((e) => e.type);
    expect(types).not.toContain('job.restart_scheduled');
    expect(types).not.toContain('job.retried');

    const waiting = 'restart-cancel-pending';
    await fixture.client.call('job.submit', { job_id: waiting, sheets: [{ argv: ['false'] }], restart: { backoff: { initial_seconds: 30 } } });
    await waitStatus(fixture.client, waiting, 'pending');
    // Not running: pause is refused, naming the state.
    const pause = await rpcError(fixture.client.call('job.pause', { job_id: waiting }));
    expect(pause.code).toBe(ErrorCode.INVALID_STATE);
    expect(pause.message).toBe(`cannot pause job "${waiting}": it is pending, not running`);
    const retry = await rpcError(fixture.client.call('job.retry', { job_id: waiting }));
    expect(retry.code).toBe(ErrorCode.INVALID_STATE);
    expect(retry.message).toBe(`cannot retry job "${waiting}": it is pending`);
    const t0 = Date.now();
    expect(await fixture.client.call('job.cancel', { job_id: waiting })).toEqual({ job_id: waiting, status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(2000);
    const ended = await fixture.client.call('job.get', { job_id: waiting });
    expect(ended.status).toBe('cancelled');
    const events = await validJobEvents(fixture.client, waiting);
    expect(events.at(-1)).toMatchObject({ type: 'job.cancelled', data: { by: 'client' } });
    expect(events.map((e) => e.type)).not.toContain('job.retried');
  });

  it('bad policies in job.submit are clear errors naming the field', async () => {
    const bad = async (restart: unknown) => rpcError(fixture.client.call('job.submit', { sheets: [{ argv: ['true'] }], restart } as never));
    const many = await bad({ max_attempts: 101 });
    expect(many.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(many.message).toBe('invalid params: "restart.max_attempts" must be at most 100, got 101');
    const cap = await bad({ backoff: { initial_seconds: 10, max_seconds: 5 } });
    expect(cap.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(cap.data).toEqual({ field: 'restart.backoff.max_seconds' });
    const on = await bad({ on: 'sometimes' });
    expect(on.data).toEqual({ field: 'restart.on' });
  });
});

const mzt = (args: string[]) => runMzt(fixture.home, args);

describe('restart policy in a job file', () => {
  it('mzt submit -f uses it; mzt jobs and mzt job show the attempt and the wait', async () => {
    const file = path.join(fixture.home, 'restarting.yaml');
    fs.writeFileSync(file, ['job_id: file-restart', 'sheets:', '  - command: exit 7', 'restart:', '  max_attempts: 2', '  backoff: {initial_seconds: 30}', ''].join('\n'));
    const sub = await mzt(['submit', '-f', file]);
    expect(sub.code).toBe(0);
    const pending = await waitStatus(fixture.client, 'file-restart', 'pending');
    expect(pending.restart).toEqual({ on: 'failure', max_attempts: 2, backoff: { initial_seconds: 30, factor: 2, max_seconds: 300 } });
    // The wait counts down from 30 s; each CLI start takes ~1 s, more on a loaded machine.
    const jobs = await mzt(['jobs']);
    expect(jobs.stdout.split('\n').find((l) => l.startsWith('file-restart'))).toMatch(/pending\s+0\/1\s+1 \(next in (2\d|30)s\)/);
    const job = await mzt(['job', 'file-restart']);
    expect(job.stdout).toMatch(/attempt   1 \(next in (2\d|30)s\)/);
    expect(job.stdout).toMatch(/restart   on failure, at most 2 runs, backoff 30s x2 up to 300s/);
    await fixture.client.call('job.cancel', { job_id: 'file-restart' });
  });

  it('mzt submit --wait waits through the restarts and exits with the last run\'s exit code', async () => {
    const file = path.join(fixture.home, 'wait-restart.yaml');
    fs.writeFileSync(file, ['sheets:', '  - command: echo try; exit 7', 'restart: {max_attempts: 2, backoff: {initial_seconds: 0.2}}', ''].join('\n'));
    const res = await mzt(['submit', '-f', file, '--wait']);
    expect(res.code).toBe(7);
    expect(res.stdout).toBe('try\ntry\n');
  });
});

describe('conductor stops with jobs paused or in a backoff', () => {
  const PAUSED = ['sh', '-c', 'sleep 60 & wait'];

  it('kill -9: after restart both are closed as interrupted, no process is left, and the backed-off one can be retried', async () => {
    const h = makeHome('mzt-restart-k9-');
    let c = await startConductor(h, { config: { kill_grace_seconds: 1 } });
    let cl = await DaemonClient.connect({ socketPath: c.socketPath });
    const F = path.join(h, 'k9.txt');
    try {
      await cl.call('job.submit', { job_id: 'k9-paused', sheets: [{ argv: PAUSED }] });
      const pid = await sheetPid(cl, 'k9-paused', 10_000, 'pid');
      await cl.call('job.pause', { job_id: 'k9-paused' });
      // Fails on its first run only; env values must survive the restart for the retry.
      await cl.call('job.submit', {
        job_id: 'k9-pending',
        env: { F },
        sheets: [{ argv: ['sh', '-c', 'echo x >> "$F"; [ "$(wc -l < "$F")" -ge 2 ]'] }],
        restart: { backoff: { initial_seconds: 60 } },
      });
      await waitStatus(cl, 'k9-pending', 'pending');
      await waitStatus(cl, 'k9-paused', 'paused');
      await cl.close();
      await c.kill9();

      c = await startConductor(h, { config: { kill_grace_seconds: 1 } });
      cl = await DaemonClient.connect({ socketPath: c.socketPath });
      for (const [job_id, previous] of [
        ['k9-paused', 'paused'],
        ['k9-pending', 'pending'],
      ] as const) {
        const job = await cl.call('job.get', { job_id });
        expect(job.status).toBe('interrupted');
        expect(job.restart_at).toBeUndefined();
        const end = (await validJobEvents(cl, job_id)).at(-1)!;
        expect(end).toMatchObject({ type: 'job.interrupted', data: { reason: 'conductor_restarted', previous_status: previous } });
      }
      await waitFor(() => !pidAlive(pid), 10_000, 'the paused sheet gone');
      const status = await cl.call('daemon.status', {});
      expect(status.running_jobs + status.queued_jobs).toBe(0);

      // The interrupted job runs again with its environment (kept in the job's directory).
      const res = await cl.call('job.retry', { job_id: 'k9-pending' });
      expect(res).toMatchObject({ attempt: 2, from_sheet: 1 }); // the backoff's attempt 2 never started
      await waitStatus(cl, 'k9-pending', 'completed');
      expect(fs.readFileSync(F, 'utf8')).toBe('x\nx\n');
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  }, 60_000);

  it('graceful shutdown closes a job in a backoff as interrupted without waiting for the backoff', async () => {
    const h = makeHome('mzt-restart-stop-');
    let c = await startConductor(h);
    let cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      await cl.call('job.submit', { job_id: 'stop-pending', sheets: [{ argv: ['false'] }], restart: { backoff: { initial_seconds: 120 } } });
      await waitStatus(cl, 'stop-pending', 'pending');
      await cl.close();
      const t0 = Date.now();
      await c.stop();
      const stopMs = Date.now() - t0;
      console.log(`conductor stop with a job in a 120 s backoff took ${stopMs} ms`);
      expect(stopMs).toBeLessThan(10_000);
      expect((await c.exited).code).toBe(0);

      c = await startConductor(h);
      cl = await DaemonClient.connect({ socketPath: c.socketPath });
      const end = (await validJobEvents(cl, 'stop-pending')).at(-1)!;
      // Closed by the stopping conductor itself, not by the next start.
      expect(end).toMatchObject({ type: 'job.interrupted', data: { reason: 'conductor_shutdown', previous_status: 'pending' } });
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  }, 60_000);
});
