/**
 * job.retry / `mzt retry` against a real conductor: a retried job keeps its id, runs from its
 * first unfinished sheet (sheets append to a file: completed ones must not append again), its
 * log and events continue with the attempt number; --from-sheet; clear errors for every
 * state and bad from_sheet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/ipc/messages.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { expectSchemaValid, jobEvents, rpcError, sheetPid, waitStatus } from '../helpers/jobs.js';
import { runMzt } from '../helpers/cli.js';

// One slot: a second job waits queued (the error for retrying a queued job).
const fixture = useConductor({ prefix: 'mzt-retry-', config: { kill_grace_seconds: 1, max_concurrent_jobs: 1 } });
/** The files of the job the first test retries (the second goes on with it). */
let appendDir: string;

const mzt = (args: string[]) => runMzt(fixture.home, args);

/** Three sheets appending to $F; sheet 2 fails until the file $OK exists. Values come from the job's env. */
function appendJob(job_id: string, dir: string) {
  return {
    job_id,
    env: { F: path.join(dir, 'runs.txt'), OK: path.join(dir, 'ok') },
    sheets: [
      { argv: ['sh', '-c', 'echo one >> "$F"'] },
      { argv: ['sh', '-c', 'echo two >> "$F"; test -e "$OK"'] },
      { argv: ['sh', '-c', 'echo three >> "$F"'] },
    ],
  };
}

describe('job.retry', () => {
  it('runs a failed job again from its failed sheet: completed sheets do not run again; id, log and events continue', async () => {
    const dir = (appendDir = fs.mkdtempSync(path.join(fixture.home, 'w-')));
    const job_id = 'retry-append';
    await fixture.client.call('job.submit', appendJob(job_id, dir));
    const failed = await waitStatus(fixture.client, job_id, 'failed', 15_000);
    expect(failed.attempt).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'runs.txt'), 'utf8')).toBe('one\ntwo\n');
    const logBefore = await fixture.client.call('job.logs', { job_id, tail_lines: 1000 });

    fs.writeFileSync(path.join(dir, 'ok'), '');
    const res = await fixture.client.call('job.retry', { job_id });
    expect(res).toMatchObject({ job_id, attempt: 2, from_sheet: 2 });
    expect(['queued', 'running']).toContain(res.status);
    const done = await waitStatus(fixture.client, job_id, 'completed', 15_000);
    // Sheet 1 completed in attempt 1: it did not append again.
    expect(fs.readFileSync(path.join(dir, 'runs.txt'), 'utf8')).toBe('one\ntwo\ntwo\nthree\n');
    expect(done).toMatchObject({ attempt: 2, completed_sheets: 3, total_sheets: 3 });
    expect(done.sheets.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);

    const events = await jobEvents(fixture.client, job_id);
    expectSchemaValid(events);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'job.submitted')).toHaveLength(1);
    expect(types.filter((t) => t === 'job.failed')).toHaveLength(1);
    expect(events.find((e) => e.type === 'job.retried')!.data).toEqual({ by: 'client', attempt: 2, from_sheet: 2, previous_status: 'failed' });
    expect(events.filter((e) => e.type === 'job.started').map((e) => e.data)).toEqual([
      { attempt: 1, from_sheet: 1 },
      { attempt: 2, from_sheet: 2 },
    ]);
    const sheetStarts = events.filter((e) => e.type === 'sheet.started').map((e) => [e.sheet_num, e.data.attempt]);
    expect(sheetStarts).toEqual([
      [1, 1],
      [2, 1],
      [2, 2],
      [3, 2],
    ]);
    // The log continues: the first attempt's lines, then the second's, in one logical stream.
    const log = await fixture.client.call('job.logs', { job_id, offset: 0 });
    expect(log.size).toBeGreaterThan(logBefore.size);
    expect(log.lines.slice(0, logBefore.lines.length)).toEqual(logBefore.lines);
    const text = log.lines.join('\n');
    expect(text).toMatch(/sys attempt 2: retried from sheet 2/);
    expect(text.indexOf('sheet 1 started')).toBeLessThan(text.indexOf('attempt 2: retried'));
    expect(log.lines.filter((l) => / sys sheet \d started/.test(l))).toHaveLength(4);

    // mzt jobs shows the attempt.
    const listed = await mzt(['jobs']);
    expect(listed.stdout).toMatch(/ATTEMPT/);
    expect(listed.stdout.split('\n').find((l) => l.startsWith(job_id))).toMatch(/completed\s+3\/3\s+2\s/);
  });

  it('--from-sheet runs a completed job again from that sheet (mzt retry); a completed job needs it', async () => {
    const job_id = 'retry-append'; // completed by the test above
    const noFrom = await rpcError(fixture.client.call('job.retry', { job_id }));
    expect(noFrom.code).toBe(ErrorCode.INVALID_STATE);
    expect(noFrom.message).toBe(`cannot retry job "${job_id}": it is completed, every sheet ran; give from_sheet to run sheets again`);

    const cli = await mzt(['retry', job_id, '--from-sheet', '3']);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(new RegExp(`^${job_id} (queued|running) \\(attempt 3, from sheet 3\\)\\n$`));
    const done = await waitStatus(fixture.client, job_id, 'completed', 15_000);
    expect(done.attempt).toBe(3);
    expect(fs.readFileSync(path.join(appendDir, 'runs.txt'), 'utf8')).toBe('one\ntwo\ntwo\nthree\nthree\n');
  });

  it('a cancelled job is retried from its first unfinished sheet', async () => {
    const dir = fs.mkdtempSync(path.join(fixture.home, 'c-'));
    const F = path.join(dir, 'runs.txt');
    const job_id = 'retry-cancelled';
    await fixture.client.call('job.submit', {
      job_id,
      env: { F },
      sheets: [{ argv: ['sh', '-c', 'echo a >> "$F"'] }, { argv: ['sh', '-c', 'echo b >> "$F"; [ "$(wc -l < "$F")" -ge 3 ] || sleep 60'] }],
    });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).sheets[1]?.pid, 10_000, 'sheet 2 running');
    await fixture.client.call('job.cancel', { job_id });
    const res = await fixture.client.call('job.retry', { job_id });
    expect(res).toMatchObject({ attempt: 2, from_sheet: 2 });
    await waitStatus(fixture.client, job_id, 'completed', 15_000);
    expect(fs.readFileSync(F, 'utf8')).toBe('a\nb\nb\n');
    expect((await jobEvents(fixture.client, job_id)).find((e) => e.type === 'job.retried')!.data.previous_status).toBe('cancelled');
  });

  it('clear errors: unknown job, a job not ended (naming its state), from_sheet out of range or skipping an unfinished sheet', async () => {
    const unknown = await rpcError(fixture.client.call('job.retry', { job_id: 'no-such-job' }));
    expect(unknown.code).toBe(ErrorCode.JOB_NOT_FOUND);
    expect(unknown.message).toBe('no job with id "no-such-job"');

    await fixture.client.call('job.submit', { job_id: 'retry-running', sheets: [{ argv: ['sleep', '60'] }] });
    await sheetPid(fixture.client, 'retry-running', 10_000, 'running');
    const running = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-running' }));
    expect(running.code).toBe(ErrorCode.INVALID_STATE);
    expect(running.message).toBe('cannot retry job "retry-running": it is running');
    expect(running.data).toMatchObject({ status: 'running' });
    const queued = await fixture.client.call('job.submit', { job_id: 'retry-queued', sheets: [{ argv: ['true'] }] });
    expect(queued.status).toBe('queued');
    const q = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-queued' }));
    expect(q.code).toBe(ErrorCode.INVALID_STATE);
    expect(q.message).toBe('cannot retry job "retry-queued": it is queued');
    await fixture.client.call('job.pause', { job_id: 'retry-running' });
    const paused = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-running' }));
    expect(paused.message).toBe('cannot retry job "retry-running": it is paused');
    await fixture.client.call('job.cancel', { job_id: 'retry-running' });

    const dir = fs.mkdtempSync(path.join(fixture.home, 'e-'));
    await fixture.client.call('job.submit', appendJob('retry-errors', dir));
    await waitStatus(fixture.client, 'retry-errors', 'failed', 15_000);
    const tooFar = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-errors', from_sheet: 4 }));
    expect(tooFar.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(tooFar.message).toBe('invalid params: "from_sheet" is 4, but job "retry-errors" has 3 sheet(s)');
    expect(tooFar.data).toEqual({ field: 'from_sheet' });
    const skips = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-errors', from_sheet: 3 }));
    expect(skips.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(skips.message).toMatch(/"from_sheet" 3 would skip sheet 2, which did not complete \(it is failed\); give at most 2/);
    const zero = await rpcError(fixture.client.call('job.retry', { job_id: 'retry-errors', from_sheet: 0 }));
    expect(zero.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(zero.data).toEqual({ field: 'from_sheet' });
    // None of these changed the job.
    expect((await fixture.client.call('job.get', { job_id: 'retry-errors' })).attempt).toBe(1);
    // from_sheet 1 reruns a completed sheet on purpose.
    fs.writeFileSync(path.join(dir, 'ok'), '');
    await fixture.client.call('job.retry', { job_id: 'retry-errors', from_sheet: 1 });
    await waitStatus(fixture.client, 'retry-errors', 'completed', 15_000);
    expect(fs.readFileSync(path.join(dir, 'runs.txt'), 'utf8')).toBe('one\ntwo\none\ntwo\nthree\n');

    const cli = await mzt(['retry', 'retry-errors', '--from-sheet', 'x']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/--from-sheet must be a non-negative integer, got "x"/);
  });
});
