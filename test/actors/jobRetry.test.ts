/** job.retry's plan: the spec from spec.json, or from job.submitted when it holds everything. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planRetry, SPEC_FILE, writeJobSpec } from '../../src/actors/jobRetry.js';
import type { JobRecord } from '../../src/events/jobRecord.js';
import type { DurableEvent } from '../../src/events/types.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-jobretry-');

const record = (status: JobRecord['status'], sheetStatuses: string[]): JobRecord => ({
  job_id: 'j1',
  name: 'j1',
  status,
  submitted_at: 1,
  total_sheets: sheetStatuses.length,
  completed_sheets: sheetStatuses.filter((s) => s === 'completed').length,
  sheets: sheetStatuses.map((s, i) => ({ sheet_num: i + 1, argv: ['true'], status: s as never })),
  last_seq: 9,
  attempt: 2,
});

const submitted = (envKeys: string[]): DurableEvent => ({
  seq: 1,
  ts: 1,
  type: 'job.submitted',
  job_id: 'j1',
  data: { name: 'old', total_sheets: 2, sheets: [0, 1].map((i) => ({ argv: ['echo', String(i)], cwd: '/srv', timeout_seconds: 30, name: null, env_keys: envKeys })) },
});

describe('planRetry', () => {
  it('uses spec.json (written owner-only at submit), environment values included', () => {
    const dir = tempDir();
    writeJobSpec(dir, { sheets: [{ argv: ['a'] }, { argv: ['b'] }], env: { TOKEN: 's3cret' } }, () => undefined);
    expect(fs.statSync(path.join(dir, SPEC_FILE)).mode & 0o777).toBe(0o600);
    const plan = planRetry(record('failed', ['completed', 'failed']), undefined, dir, () => undefined);
    expect(plan).toMatchObject({ from_sheet: 2, attempt: 3, previous_status: 'failed' });
    expect(plan.spec.env).toEqual({ TOKEN: 's3cret' });
  });

  it('without spec.json, rebuilds the spec from job.submitted when the job set no environment variables', () => {
    const plan = planRetry(record('interrupted', ['completed', 'interrupted']), undefined, tempDir(), () => submitted([]));
    expect(plan.spec).toEqual({
      name: 'old',
      sheets: [
        { argv: ['echo', '0'], cwd: '/srv', timeout_seconds: 30 },
        { argv: ['echo', '1'], cwd: '/srv', timeout_seconds: 30 },
      ],
    });
    expect(() => planRetry(record('interrupted', ['completed', 'interrupted']), undefined, tempDir(), () => submitted(['TOKEN']))).toThrow(
      'cannot retry job "j1": its spec was not kept (spec.json is missing) and its environment values are not in the event log',
    );
  });

  it('a job that has not ended cannot be retried, whatever from_sheet says', () => {
    for (const status of ['queued', 'running', 'paused', 'pending'] as const) {
      expect(() => planRetry(record(status, ['pending']), 1, tempDir(), () => undefined)).toThrow(`cannot retry job "j1": it is ${status}`);
    }
  });
});
