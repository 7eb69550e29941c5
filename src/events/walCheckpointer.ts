/**
 * Who checkpoints the event store's WAL. SQLite's automatic checkpoint (every ~1000 pages,
 * PASSIVE) runs inside the commit that crosses the threshold and stalls the event loop 9-17 ms
 * (measured). So the writer's automatic checkpoint is off (`wal_autocheckpoint = 0`) and a
 * worker thread (checkpointWorker.ts) with its own connection runs the same PASSIVE checkpoint
 * when about as many pages have been written: PASSIVE never blocks the writer (or readers), so
 * commits go on while it copies and fsyncs. The worker is started at the first checkpoint (an
 * idle conductor has none) and exits after 30 s without one (CHECKPOINTER_IDLE_MS), to be
 * started again at the next; it runs at a lower CPU priority than the conductor
 * (CHECKPOINT_NICE_INCREMENT). If it cannot be started or fails, the store falls back to
 * SQLite's automatic checkpoint.
 */
import { Worker } from 'node:worker_threads';
import { packageUrl } from '../shared/packageFiles.js';
import type Database from 'better-sqlite3';
import type { CheckpointReply, CheckpointWorkerData } from './checkpointWorker.js';
import { describeError } from './storageError.js';
import { SQLITE_CACHE_SIZE } from './storeSchema.js';

/** Pages written to the WAL between two checkpoints, like SQLite's wal_autocheckpoint default. */
const CHECKPOINT_PAGES = 1000;
/** Usable bytes of a 4 KiB page once leaves are ~80% full (measured: 10k events of ~200 B ≈ 730 pages). */
const PAGE_BYTES = 3200;
/** Bytes a row costs besides its payload: columns, cell header, its `events_ts` index entry. */
const ROW_OVERHEAD_BYTES = 64;
/** Pages a commit writes besides its rows (table and index leaves, meta, jobs): an estimate. */
const PAGES_PER_COMMIT = 4;
/**
 * The worker thread is a whole V8 isolate (~10 MB of RSS): after a burst it is let go once no
 * checkpoint was needed for this long, and started again at the next one.
 */
const CHECKPOINTER_IDLE_MS = 30_000;
/** WAL size, in checkpoints' worth of pages, beyond which the main thread finishes a checkpoint. */
const MAX_WAL_CHECKPOINTS = 8;
/**
 * How much lower the checkpoint worker's CPU priority is than the conductor's (nice levels).
 * At 10k events/s on 2 cores it took the paced append→decoded p99 from a median of ~0.96 to
 * ~0.58 ms (BENCHMARKS.md). A starved worker cannot let the WAL grow without end: past
 * MAX_WAL_CHECKPOINTS the main thread checkpoints at its own priority (noteWrite).
 */
export const CHECKPOINT_NICE_INCREMENT = 10;

/**
 * The worker's compiled module, always the build's copy: a worker thread cannot load .ts
 * (vitest runs this module from its source), and the bundled CLI has no file of its own for it.
 */
const workerUrl = (): URL => packageUrl('dist/events/checkpointWorker.js');

export interface WalCheckpointerOptions {
  mode: 'worker' | 'auto';
  /** WAL pages between two checkpoints. */
  pages?: number;
  /** The worker exits after this long without a checkpoint to run. */
  idleMs?: number;
  log: (message: string) => void;
}

export class WalCheckpointer {
  /** Counters for tests and status: checkpoints run by the worker. */
  readonly stats = { requested: 0, done: 0, failed: 0, onMainThread: 0, walPages: 0, workerStarts: 0, workerIdleStops: 0 };
  private mode: 'worker' | 'auto';
  private worker: Worker | undefined;
  private inFlight = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  /** Estimated pages written to the WAL since the last checkpoint request. */
  private walPages = 0;
  private readonly pages: number;
  private readonly log: (message: string) => void;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    options: WalCheckpointerOptions,
  ) {
    this.mode = options.mode === 'worker' && db.memory ? 'auto' : options.mode;
    this.pages = options.pages ?? CHECKPOINT_PAGES;
    if (!Number.isSafeInteger(this.pages) || this.pages < 1) throw new RangeError('checkpointPages must be an integer >= 1');
    this.idleMs = options.idleMs ?? CHECKPOINTER_IDLE_MS;
    this.log = options.log;
    if (this.mode === 'worker') db.pragma('wal_autocheckpoint = 0');
  }

  /** Count what a commit wrote to the WAL; ask the worker for a checkpoint past the threshold. */
  noteWrite(bytes: number, rows: number): void {
    if (this.mode !== 'worker') return;
    this.walPages += PAGES_PER_COMMIT + (bytes + rows * ROW_OVERHEAD_BYTES) / PAGE_BYTES;
    if (this.inFlight) {
      // The worker runs at a lower priority: on a saturated CPU it may not run for a while, and
      // the WAL must not grow without end meanwhile. Past the bound the main thread checkpoints
      // (PASSIVE: if the worker is in the middle of a pass, this returns at once), and tries
      // again after each further checkpoint's worth of pages while the worker has not answered.
      if (this.walPages >= MAX_WAL_CHECKPOINTS * this.pages) {
        this.walPages -= this.pages;
        this.checkpointOnMainThread();
      }
      return;
    }
    if (this.walPages < this.pages) return;
    const worker = this.worker ?? this.start();
    if (!worker) return;
    this.walPages = 0;
    this.inFlight = true;
    this.stats.requested += 1;
    clearTimeout(this.idleTimer);
    worker.postMessage('checkpoint');
  }

  /** No more checkpoints: the worker is let go (the store then runs its final one itself). */
  close(): void {
    this.closed = true;
    this.stop();
  }

  /** A PASSIVE checkpoint between two commits, on the event loop (a short stall). */
  private checkpointOnMainThread(): void {
    if (this.closed) return;
    this.stats.onMainThread += 1;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      this.log(`event store: checkpoint failed (retried later): ${describeError(err)}`);
    }
  }

  private start(): Worker | undefined {
    try {
      const workerData: CheckpointWorkerData = { path: this.path, cacheSize: SQLITE_CACHE_SIZE, niceIncrement: CHECKPOINT_NICE_INCREMENT };
      const worker = new Worker(workerUrl(), { workerData });
      worker.unref();
      this.stats.workerStarts += 1;
      worker.on('message', (r: CheckpointReply) => {
        this.inFlight = false;
        this.armIdleStop(worker);
        if (!r.ok) {
          // Retried at the next threshold; the WAL keeps the data meanwhile.
          this.stats.failed += 1;
          return;
        }
        this.stats.done += 1;
        this.stats.walPages = r.log ?? 0;
        // The WAL rewinds only when a commit starts with every frame checkpointed. Under commits
        // that never pause, the worker's pass always ends behind the commit in progress, so the
        // WAL keeps growing. Past a bound, finish here, between two commits: only the frames
        // written since the worker's pass are left to copy (a short stall, once per bound).
        if ((r.log ?? 0) > MAX_WAL_CHECKPOINTS * this.pages) this.checkpointOnMainThread();
      });
      worker.on('error', (err) => this.failed(worker, err));
      worker.on('exit', (code) => {
        if (this.worker === worker && !this.closed) this.failed(worker, new Error(`exited with code ${code}`));
      });
      this.worker = worker;
      return worker;
    } catch (err) {
      this.failed(undefined, err);
      return undefined;
    }
  }

  /** Back to SQLite's own checkpoints (on the event loop): the WAL must not grow without end. */
  private failed(worker: Worker | undefined, err: unknown): void {
    if (worker && this.worker !== worker) return;
    this.worker = undefined;
    this.inFlight = false;
    if (this.mode !== 'worker') return;
    this.mode = 'auto';
    this.log(`event store: checkpoint worker failed (${describeError(err)}); using SQLite's automatic checkpoints`);
    if (!this.closed) {
      try {
        this.db.pragma(`wal_autocheckpoint = ${this.pages}`);
      } catch {
        /* a closed or broken database: nothing left to checkpoint */
      }
    }
  }

  /** Let the worker go if no checkpoint is asked of it for a while (see CHECKPOINTER_IDLE_MS). */
  private armIdleStop(worker: Worker): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.inFlight || this.closed) return;
      this.stats.workerIdleStops += 1;
      this.stop();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private stop(): void {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    // The worker closes its connection and exits; a checkpoint it is running finishes first,
    // and the final TRUNCATE checkpoint waits for it (busy_timeout).
    worker.postMessage('close');
  }
}
