/**
 * Which CPU accounts the conductor drops once the ledger has them: tags of jobs no longer
 * active with no process left in the sample — never an active job's, never a tag with a live
 * (e.g. escaped) process.
 */
import { describe, expect, it } from 'vitest';
import { settledTags } from '../../src/conductor/monitoring.js';

const tag = (job_id: string, sheet_num: number | null) => ({ job_id, sheet_num, cpu_seconds: 1, exited_cpu_seconds: 1 });
const proc = (job_id: string, sheet_num: number | null) => ({ job_id, sheet_num }) as any;
const active = (job_id: string) => ({ job_id }) as any;

describe('settledTags', () => {
  it('drops ended jobs without processes, keeps active jobs and tags with live processes', () => {
    const snapshot = { job_costs: [active('running')], processes: [proc('ended-escaped', 1)] };
    const tags = [tag('running', 1), tag('running', 2), tag('ended', 1), tag('ended', null), tag('ended-escaped', 1), tag('ended-escaped', 2)];
    expect(settledTags(snapshot, tags)).toEqual([
      { job_id: 'ended', sheet_num: 1 },
      { job_id: 'ended', sheet_num: null },
      { job_id: 'ended-escaped', sheet_num: 2 },
    ]);
    expect(settledTags(snapshot, [])).toEqual([]);
  });
});
