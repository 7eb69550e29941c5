/**
 * job.cleared in the store: the projection row goes in the same commit as the event, a
 * rebuild from the log agrees, labels and git context land in the record, and the seq of the
 * log stays gap-free.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventStore } from '../../src/events/store.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-cleared-');

function openStore(): EventStore {
  const dir = tempDir();
  return EventStore.open(path.join(dir, 'events.db'));
}

const git = { sha: 'a'.repeat(40), branch: 'main', dirty: false };
const sheet = { argv: ['true'], cwd: null, timeout_seconds: 5, name: null, env_keys: [] };

describe('job.cleared', () => {
  it('deletes the ended job from the projection, in agreement with a rebuild', async () => {
    const store = openStore();
    try {
      for (const id of ['done', 'live']) {
        await store.append({ type: 'job.submitted', job_id: id, data: { name: id, total_sheets: 1, sheets: [sheet], labels: { team: 'a' }, git } });
      }
      await store.append({ type: 'job.completed', job_id: 'done', data: { duration_seconds: 1, git: { ...git, dirty: true } } });
      expect(store.getJob('done')).toMatchObject({ status: 'completed', labels: { team: 'a' }, git, git_at_end: { dirty: true } });
      expect(store.endedJobIds({ limit: 10 })).toEqual(['done']);

      // A cleared event for a live job changes nothing (the method refuses it before).
      await store.append({ type: 'job.cleared', job_id: 'live', data: { status: 'running', by: 'client' } });
      await store.append({ type: 'job.cleared', job_id: 'done', data: { status: 'completed', by: 'client' } });
      expect(store.getJob('done')).toBeUndefined();
      expect(store.getJob('live')).toMatchObject({ status: 'queued' });
      expect([...store.rebuildProjection().keys()]).toEqual(['live']);
      expect(store.endedJobIds({ limit: 10 })).toEqual([]);

      // The job's events are still in the log, gap-free, ending with job.cleared.
      const events = store.read(0, 100, { job_id: 'done' });
      expect(events.map((e) => e.type)).toEqual(['job.submitted', 'job.completed', 'job.cleared']);
      const all = store.read(0, 100).map((e) => e.seq);
      expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    } finally {
      store.close();
    }
  });

  it('endedJobIds filters by status and end time, oldest ended first', async () => {
    const store = openStore();
    try {
      const t0 = Date.now() / 1000;
      for (const [id, end, ts] of [['old', 'job.failed', t0 - 1000], ['new', 'job.completed', t0]] as const) {
        await store.append({ type: 'job.submitted', job_id: id, data: { name: id, total_sheets: 1, sheets: [sheet] }, ts: ts - 1 });
        await store.append({ type: end, job_id: id, data: {}, ts });
      }
      expect(store.endedJobIds({ limit: 10 })).toEqual(['old', 'new']);
      expect(store.endedJobIds({ statuses: ['completed'], limit: 10 })).toEqual(['new']);
      expect(store.endedJobIds({ endedBefore: t0 - 500, limit: 10 })).toEqual(['old']);
      expect(store.endedJobIds({ statuses: ['running'], limit: 10 })).toEqual([]);
      expect(store.endedJobIds({ limit: 1 })).toEqual(['old']);
    } finally {
      store.close();
    }
  });
});
