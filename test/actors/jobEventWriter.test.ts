/**
 * JobEventWriter over a real EventStore (SQLite in a temp dir); a trigger refuses inserts as a
 * full disk would. Per-job order through a refusal, retry once writes work, the bound on
 * held detail events (outcomes always kept), and a drain that gives up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { JobEventWriter } from '../../src/actors/jobEventWriter.js';
import { EventStore } from '../../src/events/store.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function setup(maxHeld?: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-writer-'));
  const dbPath = path.join(dir, 'events.db');
  const store = EventStore.open(dbPath);
  const db = new Database(dbPath);
  const logs: string[] = [];
  const writer = new JobEventWriter({ append: (e) => store.append(e), log: (m) => logs.push(m), maxHeld });
  cleanups.push(() => {
    writer.stop();
    db.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const refuse = (when: string) => db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON events WHEN ${when} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  const accept = () => db.exec('DROP TRIGGER refuse');
  const types = (jobId: string) => store.read(0, 1000, { job_id: jobId }).map((e) => e.type);
  return { store, writer, logs, refuse, accept, types };
}

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('JobEventWriter', () => {
  it('keeps a refused event and everything after it of the same job, and commits them in order once writes work', async () => {
    const { writer, refuse, accept, types } = setup();
    // Only the first event is refused: the second would commit fine, but must wait for it.
    refuse(`NEW.type = 'process.exit'`);
    const done = [
      writer.record({ type: 'process.exit', job_id: 'a', sheet_num: 1 }),
      writer.record({ type: 'sheet.completed', job_id: 'a', sheet_num: 1 }),
      writer.record({ type: 'job.completed', job_id: 'a' }),
    ];
    await until(() => writer.heldCount === 3, 'the three events to be held');
    // Another job is not held up.
    await writer.record({ type: 'job.started', job_id: 'b' });
    expect(types('b')).toEqual(['job.started']);
    // Retries go on (backoff) and still nothing of job a is committed out of order.
    await new Promise((r) => setTimeout(r, 400));
    expect(types('a')).toEqual([]);
    expect(writer.heldCount).toBe(3);

    accept();
    await Promise.all(done);
    expect(types('a')).toEqual(['process.exit', 'sheet.completed', 'job.completed']);
    expect(writer.heldCount).toBe(0);
  });

  it('holds at most maxHeld detail events; outcomes are always kept; what is not kept is counted and logged', async () => {
    const { writer, logs, refuse, accept, types } = setup(5);
    refuse('1');
    for (let i = 0; i < 20; i++) void writer.record({ type: 'process.kill', job_id: 'a', sheet_num: 1, data: { i } });
    const outcomes = [writer.record({ type: 'sheet.failed', job_id: 'a', sheet_num: 1 }), writer.record({ type: 'job.failed', job_id: 'a' })];
    await until(() => writer.heldCount > 0, 'events to be held');
    expect(writer.heldCount).toBe(5 + 2);
    expect(writer.lostTotal).toBe(15);
    expect(logs.join('\n')).toMatch(/5 events already wait for the store \(the bound\); process\.kill is not recorded/);

    accept();
    await Promise.all(outcomes);
    expect(types('a')).toEqual([...Array(5).fill('process.kill'), 'sheet.failed', 'job.failed']);
    expect(logs.join('\n')).toMatch(/job a: 15 detail event\(s\) were not recorded/);
  });

  it('drain gives up after its timeout while the store still refuses, and says what is left', async () => {
    const { writer, refuse } = setup();
    refuse('1');
    void writer.record({ type: 'job.completed', job_id: 'a' });
    expect(await writer.drain(300)).toBe(false);
    expect(writer.describeUnrecorded()).toEqual(['a: job.completed']);
  });
});
