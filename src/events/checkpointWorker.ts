/**
 * The WAL checkpoint worker thread (walCheckpointer.ts starts it). It has its own connection;
 * each 'checkpoint' message runs PASSIVE checkpoints and answers with SQLite's counts; 'close'
 * closes the connection and lets the thread exit.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointWorkerData {
  path: string;
  cacheSize: number;
  niceIncrement: number;
}

export type CheckpointReply =
  | { ok: true; busy: number; log: number; checkpointed: number; passes: number }
  | { ok: false; error: string };

/** Most passes per request; a pass that let fewer than MIN_NEW_FRAMES in ends the request. */
const MAX_PASSES = 8;
const MIN_NEW_FRAMES = 64;

if (!parentPort) throw new Error('checkpointWorker.js runs as a worker thread');
const port = parentPort;
const data = workerData as CheckpointWorkerData;

// Housekeeping yields the CPU to the event path: this thread runs niceIncrement nice levels
// below the conductor (on Linux a thread has its own nice value, and /proc/thread-self names
// the thread). Elsewhere, or if refused, it keeps the conductor's.
try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  os.setPriority(tid, Math.min(19, os.getPriority(tid) + data.niceIncrement));
} catch {
  /* not Linux, or not allowed: same priority as the conductor */
}

const db = new Database(data.path);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = NORMAL');
db.pragma(`cache_size = ${data.cacheSize}`);

port.on('message', (msg: unknown) => {
  if (msg === 'close') {
    db.close();
    port.close();
    return;
  }
  try {
    // Commits go on meanwhile: SQLite's counts are those of the WAL as the pass began, and the
    // WAL file rewinds only once a commit starts with every frame checkpointed. So pass again
    // while the previous pass let many frames in; each pass is shorter than the one before, and
    // what is left for the main thread to finish (MAX_WAL_CHECKPOINTS) stays small.
    let r: { busy: number; log: number; checkpointed: number };
    let passes = 0;
    let previousLog = -Infinity;
    do {
      r = (db.pragma('wal_checkpoint(PASSIVE)') as Array<typeof r>)[0]!;
      passes += 1;
      if (r.busy || r.log - previousLog < MIN_NEW_FRAMES) break;
      previousLog = r.log;
    } while (passes < MAX_PASSES);
    port.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed, passes } satisfies CheckpointReply);
  } catch (err) {
    port.postMessage({ ok: false, error: String((err as { message?: unknown } | null)?.message || err) } satisfies CheckpointReply);
  }
});
