/** The job projection as a pure fold: each rule of projection.ts, event by event. */
import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/events/jobRecord.js';
import { applyJobEvent } from '../../src/events/projection.js';
import type { DurableEvent } from '../../src/events/types.js';

let seq = 0;
function ev(type: string, fields: Partial<DurableEvent> = {}): DurableEvent {
  seq += 1;
  return { seq, ts: 1000 + seq, type, job_id: 'j1', data: {}, ...fields };
}

function fold(events: DurableEvent[], start?: JobRecord): JobRecord | undefined {
  return events.reduce<JobRecord | undefined>((r, e) => applyJobEvent(r, e), start);
}

const submitted = (sheets = 2) =>
  ev('job.submitted', {
    data: {
      name: 'build',
      total_sheets: sheets,
      sheets: Array.from({ length: sheets }, (_, i) => ({ argv: ['echo', String(i)], cwd: '/tmp', timeout_seconds: 5, name: `s${i + 1}` })),
    },
  });

describe('applyJobEvent', () => {
  it('job.submitted creates a queued record with pending sheets', () => {
    const e = submitted(2);
    const r = applyJobEvent(undefined, e)!;
    expect(r).toEqual({
      job_id: 'j1',
      name: 'build',
      status: 'queued',
      submitted_at: e.ts,
      total_sheets: 2,
      completed_sheets: 0,
      last_seq: e.seq,
      attempt: 1,
      sheets: [
        { sheet_num: 1, argv: ['echo', '0'], cwd: '/tmp', timeout_seconds: 5, name: 's1', status: 'pending' },
        { sheet_num: 2, argv: ['echo', '1'], cwd: '/tmp', timeout_seconds: 5, name: 's2', status: 'pending' },
      ],
    });
  });

  it('ignores events of unknown jobs and events without a job', () => {
    expect(applyJobEvent(undefined, ev('job.started'))).toBeUndefined();
    const r = applyJobEvent(undefined, submitted(1))!;
    expect(applyJobEvent(r, ev('daemon.started', { job_id: undefined }))).toBe(r);
  });

  it('a duplicate job.submitted changes nothing', () => {
    const r = applyJobEvent(undefined, submitted(1))!;
    expect(applyJobEvent(r, submitted(3))).toBe(r);
  });

  it('runs a job to completion', () => {
    const sub = submitted(2);
    const started = ev('job.started');
    const s1 = ev('sheet.started', { sheet_num: 1, data: { pid: 41, argv: ['echo'], cwd: '/tmp' } });
    const s1done = ev('sheet.completed', { sheet_num: 1, data: { exit_code: 0, duration_seconds: 0.5 } });
    let r = fold([sub, started, s1])!;
    expect(r.status).toBe('running');
    expect(r.started_at).toBe(started.ts);
    expect(r.current_sheet).toBe(1);
    expect(r.sheets[0]).toMatchObject({ status: 'running', pid: 41, started_at: s1.ts });
    r = fold([s1done], r)!;
    expect(r.sheets[0]).toMatchObject({ status: 'completed', exit_code: 0, signal: null, ended_at: s1done.ts, duration_seconds: 0.5 });
    expect(r.completed_sheets).toBe(1);
    const s2 = ev('sheet.started', { sheet_num: 2, data: { pid: 42 } });
    const s2done = ev('sheet.completed', { sheet_num: 2, data: { exit_code: 0, duration_seconds: 1 } });
    const end = ev('job.completed', { data: { duration_seconds: 2 } });
    r = fold([s2, s2done, end], r)!;
    expect(r).toMatchObject({ status: 'completed', ended_at: end.ts, completed_sheets: 2, current_sheet: 2, last_seq: end.seq });
    expect(r.reason).toBeUndefined();
  });

  it('a timed-out sheet and a failed job', () => {
    const r = fold([
      submitted(3),
      ev('job.started'),
      ev('sheet.started', { sheet_num: 1, data: { pid: 7 } }),
      ev('sheet.failed', { sheet_num: 1, data: { exit_code: null, signal: 'SIGKILL', duration_seconds: 5, reason: 'timeout' } }),
      ev('job.failed', { data: { reason: 'timeout', sheet_num: 1, exit_code: null } }),
    ])!;
    expect(r.status).toBe('failed');
    expect(r.reason).toBe('timeout');
    expect(r.completed_sheets).toBe(0);
    expect(r.sheets.map((s) => s.status)).toEqual(['timed_out', 'skipped', 'skipped']);
    expect(r.sheets[0]).toMatchObject({ exit_code: null, signal: 'SIGKILL', duration_seconds: 5 });
  });

  it('a failed sheet with an exit code', () => {
    const r = fold([
      submitted(1),
      ev('job.started'),
      ev('sheet.started', { sheet_num: 1, data: { pid: 7 } }),
      ev('sheet.failed', { sheet_num: 1, data: { exit_code: 3, signal: null, duration_seconds: 1, reason: 'exit_code' } }),
    ])!;
    expect(r.sheets[0]).toMatchObject({ status: 'failed', exit_code: 3, signal: null });
  });

  it.each([
    ['job.cancelled', 'cancelled', { reason: 'user asked', by: 'client' }, 'user asked'],
    ['job.interrupted', 'interrupted', { reason: 'conductor_shutdown', previous_status: 'running' }, 'conductor_shutdown'],
    ['job.failed', 'failed', { reason: 'exit_code', sheet_num: 1 }, 'exit_code'],
  ])('%s closes a running sheet as %s and skips pending ones', (type, status, data, reason) => {
    const end = ev(type, { data });
    const r = fold([submitted(2), ev('job.started'), ev('sheet.started', { sheet_num: 1, data: { pid: 9 } }), end])!;
    expect(r.status).toBe(status);
    expect(r.reason).toBe(reason);
    expect(r.ended_at).toBe(end.ts);
    expect(r.sheets[0]).toMatchObject({ status, ended_at: end.ts });
    expect(r.sheets[1]!.status).toBe('skipped');
  });

  it('a queued job can be cancelled before it starts', () => {
    const r = fold([submitted(2), ev('job.queued', { data: { position: 1 } }), ev('job.cancelled', { data: { reason: 'nope' } })])!;
    expect(r.status).toBe('cancelled');
    expect(r.started_at).toBeUndefined();
    expect(r.sheets.map((s) => s.status)).toEqual(['skipped', 'skipped']);
  });

  it('a terminal record never changes again', () => {
    const done = fold([submitted(1), ev('job.started'), ev('job.completed')])!;
    for (const type of ['job.started', 'job.failed', 'sheet.started', 'job.queued', 'process.exit']) {
      expect(applyJobEvent(done, ev(type, { sheet_num: 1, data: { reason: 'late' } }))).toBe(done);
    }
  });

  it('last_seq follows every event of a live job; the input record is not mutated', () => {
    const r = fold([submitted(1), ev('job.started')])!;
    const frozen = JSON.stringify(r);
    const spawn = ev('process.spawn', { sheet_num: 1, data: { pid: 3 } });
    const next = applyJobEvent(r, spawn)!;
    expect(next.last_seq).toBe(spawn.seq);
    expect(JSON.stringify(r)).toBe(frozen);
    const started = applyJobEvent(r, ev('sheet.started', { sheet_num: 1, data: { pid: 3 } }))!;
    expect(started.sheets[0]!.status).toBe('running');
    expect(r.sheets[0]!.status).toBe('pending');
  });

  it('odd data is ignored, never thrown on', () => {
    const weird = ev('job.submitted', { data: { name: 5, sheets: [null, 'x', { argv: ['a', 3], timeout_seconds: 'soon' }] } });
    const r = applyJobEvent(undefined, weird)!;
    expect(r.name).toBe('j1');
    expect(r.sheets.map((s) => s.argv)).toEqual([[], [], ['a']]);
    expect(r.sheets[2]!.timeout_seconds).toBeUndefined();
    const noData = { ...ev('job.started'), data: undefined } as unknown as DurableEvent;
    expect(applyJobEvent(r, noData)!.status).toBe('running');
    // sheet numbers that do not exist change nothing but last_seq
    const ghost = ev('sheet.started', { sheet_num: 99, data: { pid: 'x' } });
    expect(applyJobEvent(r, ghost)!.sheets).toEqual(r.sheets);
  });

  describe('retry and restart', () => {
    const failedAtSheet2 = () => {
      const sheetDone = (n: number, type = 'sheet.completed', exit = 0) => ev(type, { sheet_num: n, data: { exit_code: exit, duration_seconds: 1, reason: 'exit_code' } });
      return fold([submitted(3), ev('job.started', { data: { attempt: 1 } }), ev('sheet.started', { sheet_num: 1, data: { pid: 9 } }), sheetDone(1), ev('sheet.started', { sheet_num: 2, data: { pid: 10 } }), sheetDone(2, 'sheet.failed', 4), ev('job.failed', { data: { reason: 'exit code 4' } })])!;
    };

    it('job.retried reopens a terminal record: queued, next attempt, sheets from from_sheet pending again, those before kept', () => {
      const failed = failedAtSheet2();
      expect(failed).toMatchObject({ status: 'failed', reason: 'exit code 4', completed_sheets: 1 });
      expect(failed.sheets.map((s) => s.status)).toEqual(['completed', 'failed', 'skipped']);
      const retried = ev('job.retried', { data: { by: 'client', attempt: 2, from_sheet: 2, previous_status: 'failed' } });
      const r = applyJobEvent(failed, retried)!;
      expect(r).toMatchObject({ status: 'queued', attempt: 2, completed_sheets: 1, last_seq: retried.seq });
      expect(r.ended_at).toBeUndefined();
      expect(r.reason).toBeUndefined();
      expect(r.sheets.map((s) => s.status)).toEqual(['completed', 'pending', 'pending']);
      expect(r.sheets[0]).toMatchObject({ pid: 9, exit_code: 0 }); // history of the completed sheet kept
      expect(r.sheets[1]).toEqual({ sheet_num: 2, argv: ['echo', '1'], cwd: '/tmp', timeout_seconds: 5, name: 's2', status: 'pending' });
      const started = applyJobEvent(r, ev('job.started', { data: { attempt: 2, from_sheet: 2 } }))!;
      expect(started).toMatchObject({ status: 'running', attempt: 2 });
    });

    it('from_sheet 1 on a retried job runs completed sheets again: completed_sheets is recounted', () => {
      const r = applyJobEvent(failedAtSheet2(), ev('job.retried', { data: { by: 'client', attempt: 2, from_sheet: 1, previous_status: 'failed' } }))!;
      expect(r.completed_sheets).toBe(0);
      expect(r.sheets.map((s) => s.status)).toEqual(['pending', 'pending', 'pending']);
    });

    it('job.restart_scheduled makes a running job pending with restart_at; job.retried queues it again; an end clears restart_at', () => {
      let r = fold([submitted(1), ev('job.started', { data: { attempt: 1 } }), ev('job.restart_scheduled', { data: { attempt: 1, next_attempt: 2, delay_seconds: 1, restart_at: 5000, from_sheet: 1, after: 'failed' } })])!;
      expect(r).toMatchObject({ status: 'pending', restart_at: 5000 });
      r = applyJobEvent(r, ev('job.retried', { data: { by: 'restart_policy', attempt: 2, from_sheet: 1, previous_status: 'pending' } }))!;
      expect(r).toMatchObject({ status: 'queued', attempt: 2 });
      expect(r.restart_at).toBeUndefined();
      const again = fold([ev('job.started'), ev('job.restart_scheduled', { data: { restart_at: 6000 } }), ev('job.cancelled', { data: { reason: 'x' } })], r)!;
      expect(again.status).toBe('cancelled');
      expect(again.restart_at).toBeUndefined();
    });

    it('job.retried of a job that is queued or running changes only last_seq', () => {
      const r = fold([submitted(1), ev('job.started')])!;
      const next = applyJobEvent(r, ev('job.retried', { data: { attempt: 5, from_sheet: 1 } }))!;
      expect(next).toMatchObject({ status: 'running', attempt: 1 });
    });

    it('job.submitted keeps a restart policy it recorded', () => {
      const restart = { on: 'failure', max_attempts: 3, backoff: { initial_seconds: 1, factor: 2, max_seconds: 300 } };
      const r = applyJobEvent(undefined, ev('job.submitted', { data: { name: 'x', total_sheets: 1, sheets: [{ argv: ['true'] }], restart } }))!;
      expect(r.restart).toEqual(restart);
    });
  });
});
