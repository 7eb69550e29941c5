/**
 * The WAL checkpoint worker module (src/events/checkpointWorker.ts) driven directly, as
 * walCheckpointer.ts drives it: its compiled file (npm run build) in a real worker thread,
 * against a database whose writer never checkpoints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckpointReply, CheckpointWorkerData } from '../../src/events/checkpointWorker.js';

const WORKER = new URL('../../dist/events/checkpointWorker.js', import.meta.url);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tempDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-ckpt-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'events.db');
}

/** A writer like the store's: WAL, automatic checkpoint off, `rows` rows of ~1 KB committed. */
function writer(dbPath: string, rows: number): Database.Database {
  const db = new Database(dbPath);
  cleanups.push(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(Buffer.alloc(1000, i % 251));
  })();
  return db;
}

function start(dbPath: string): Worker {
  const workerData: CheckpointWorkerData = { path: dbPath, cacheSize: -2000, niceIncrement: 0 };
  const worker = new Worker(WORKER, { workerData });
  cleanups.push(() => worker.terminate());
  return worker;
}

async function ask(worker: Worker): Promise<CheckpointReply> {
  worker.postMessage('checkpoint');
  const [reply] = (await once(worker, 'message')) as [CheckpointReply];
  return reply;
}

describe('checkpoint worker', () => {
  it('copies every WAL frame into the database file and answers with SQLite counts', async () => {
    const dbPath = tempDb();
    const db = writer(dbPath, 2000);
    const fileBefore = fs.statSync(dbPath).size;
    const walFrames = (db.pragma('wal_checkpoint(NOOP)') as Array<{ log: number }>)[0]?.log;
    const reply = await ask(start(dbPath));
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    expect(reply.busy).toBe(0);
    expect(reply.log).toBeGreaterThan(400); // ~2 MB of rows in 4 KiB pages
    expect(reply.checkpointed).toBe(reply.log);
    // A second pass sees the WAL did not grow (nothing was written meanwhile) and ends it.
    expect(reply.passes).toBe(2);
    expect(reply.log).toBe(walFrames); // the WAL as the writer left it
    // The rows are in the database file itself now, not only in the WAL.
    expect(fs.statSync(dbPath).size).toBeGreaterThan(fileBefore + 1_500_000);
  });

  it('answers each request, and closes its connection and exits on close', async () => {
    const dbPath = tempDb();
    const db = writer(dbPath, 100);
    const worker = start(dbPath);
    const first = await ask(worker);
    expect(first).toMatchObject({ ok: true, busy: 0 });
    db.prepare('INSERT INTO t (v) VALUES (?)').run(Buffer.alloc(10));
    const second = await ask(worker);
    expect(second.ok && second.checkpointed === second.log).toBe(true);
    const exited = once(worker, 'exit');
    worker.postMessage('close');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
  });

  it('fails at start when it cannot open the database (the store then falls back to SQLite checkpoints)', async () => {
    const worker = start(path.join(tempDb(), 'no-such-dir', 'events.db'));
    const [err] = (await once(worker, 'error')) as [Error];
    expect(err.message).toMatch(/directory does not exist|unable to open/i);
  });
});
