/**
 * The durable event log on SQLite (better-sqlite3, WAL): the facade the conductor uses. It owns
 * the queue of appends and the head; the parts live beside it:
 *   storeSchema.ts      opening the file, tables, schema version
 *   batchWriter.ts      one group commit's transaction (seqs, encoding, projection upsert)
 *   jobTable.ts         the job projection's table
 *   eventReader.ts      reads, raw and framed for replay
 *   retention.ts        deleting old events
 *   walCheckpointer.ts  WAL checkpoints off the event loop (checkpointWorker.ts)
 *   delivery.ts         publication to the bus in seq order
 *
 * - Group commit: appends made together (in one callback, or in one turn of the event loop once
 *   that turn has committed already: soon.ts) are committed in one transaction (DESIGN.md:
 *   ~300k rows/s at 100 per transaction against ~55k at one), at most `maxBatch` per
 *   transaction; at most `maxPending` appends wait for a commit.
 * - Seq is assigned inside the transaction: gap-free and increasing from 1. A failed commit
 *   rolls back and leaves the head where it was, so the next commit reuses those seqs.
 * - Only after the commit are events published, synchronously and in seq order, and only then
 *   are the append promises resolved. `headSeq` moves at the commit, before publication.
 * - `journal_size_limit` keeps the WAL file from staying large after a burst.
 */
import type Database from 'better-sqlite3';
import { decodeValue } from '../shared/msgpack.js';
import { BatchWriter, invalidEvent, type CommitWork, type Pending } from './batchWriter.js';
import { Delivery, type CommittedEventSink } from './delivery.js';
import { EventReader, type FramedPage, type RawEventRow } from './eventReader.js';
import type { JobRecord, JobStatus } from './jobRecord.js';
import { JobTable } from './jobTable.js';
import { deleteBefore } from './retention.js';
import { Soon } from './soon.js';
import { describeError, StorageError } from './storageError.js';
import { openEventDatabase, readHeadSeq } from './storeSchema.js';
import { nowSeconds, type DurableEvent, type EventFilter, type NewEvent, type StoredEvent } from './types.js';
import { WalCheckpointer } from './walCheckpointer.js';

export type { StoredEvent } from './types.js';
export type { CommittedEventSink } from './delivery.js';
export type { FramedPage, RawEventRow } from './eventReader.js';
export { StorageError } from './storageError.js';
export { SQLITE_CACHE_SIZE } from './storeSchema.js';
export { CHECKPOINT_NICE_INCREMENT } from './walCheckpointer.js';

export interface StoreHealth {
  writable: boolean;
  last_error?: string;
}

export interface EventStoreOptions {
  bus?: CommittedEventSink;
  /** Most events per transaction (default 1000). */
  maxBatch?: number;
  /** Most appends waiting for a commit; beyond it append rejects (default 100 000). */
  maxPending?: number;
  /** Reports problems that have no caller to tell (a sink that throws). Defaults to stderr. */
  log?: (message: string) => void;
  /**
   * Who checkpoints the WAL: 'worker' (default: a worker thread, off the event loop) or
   * 'auto' (SQLite's automatic checkpoint inside the commit that crosses ~1000 pages).
   */
  checkpoint?: 'worker' | 'auto';
  /** WAL pages between two checkpoints (default 1000, SQLite's own default). */
  checkpointPages?: number;
  /** The checkpoint worker exits after this long without a checkpoint to run (default 30 s). */
  checkpointerIdleMs?: number;
}

export class EventStore {
  readonly path: string;
  health: StoreHealth = { writable: true };
  /** Counters for tests and status: transactions committed and failed, events committed. */
  readonly stats = { commits: 0, failedCommits: 0, events: 0, largestBatch: 0 };
  /** Counters for tests and status: checkpoints run by the worker. */
  readonly checkpointStats: WalCheckpointer['stats'];

  private readonly db: Database.Database;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly log: (message: string) => void;
  private pending: Pending[] = [];
  /** The group commit: soon after the first append of a batch (see soon.ts). */
  private readonly commitSoon = new Soon(() => this.flushNow());
  private head: number;
  private closed = false;
  private readonly jobs: JobTable;
  private readonly writer: BatchWriter;
  private readonly reader: EventReader;
  private readonly delivery: Delivery;
  private readonly wal: WalCheckpointer;

  private constructor(db: Database.Database, path: string, options: EventStoreOptions) {
    this.db = db;
    this.path = path;
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxPending = options.maxPending ?? 100_000;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError(`maxBatch must be an integer >= 1`);
    if (!Number.isSafeInteger(this.maxPending) || this.maxPending < 1) throw new RangeError(`maxPending must be an integer >= 1`);
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    this.wal = new WalCheckpointer(db, path, {
      // MZT_WAL_CHECKPOINT=auto: the old behaviour, for benchmarks to compare in the same run.
      mode: options.checkpoint ?? (process.env.MZT_WAL_CHECKPOINT === 'auto' ? 'auto' : 'worker'),
      pages: options.checkpointPages,
      idleMs: options.checkpointerIdleMs,
      log: this.log,
    });
    this.checkpointStats = this.wal.stats;
    this.jobs = new JobTable(db);
    this.writer = new BatchWriter(db, this.jobs);
    this.reader = new EventReader(db);
    this.delivery = new Delivery(options.bus, this.log);
    this.head = readHeadSeq(db);
  }

  static open(dbPath: string, options: EventStoreOptions = {}): EventStore {
    let db: Database.Database | undefined;
    try {
      db = openEventDatabase(dbPath);
      return new EventStore(db, dbPath, options);
    } catch (err) {
      db?.close();
      if (err instanceof RangeError) throw err;
      throw new StorageError(`cannot open the event store ${dbPath}: ${describeError(err)}`, { cause: err });
    }
  }

  /** Last committed seq; 0 when nothing was ever committed. */
  get headSeq(): number {
    return this.head;
  }

  /** Lowest seq still stored (retention deletes older ones); headSeq + 1 when none is. */
  get firstSeq(): number {
    return this.reader.firstSeq() ?? this.head + 1;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Queue an event for the next group commit. Resolves once it is committed and published;
   * rejects with StorageError when the commit fails or the queue is full, with TypeError when
   * the event itself is malformed (that never affects the other events of the batch).
   */
  append(input: NewEvent): Promise<StoredEvent> {
    const problem = invalidEvent(input);
    if (problem) return Promise.reject(new TypeError(problem));
    if (this.closed) return Promise.reject(new StorageError(`cannot append ${input.type}: the event store is closed`));
    if (this.pending.length >= this.maxPending) {
      return Promise.reject(
        new StorageError(`cannot append ${input.type}: ${this.pending.length} events already wait for a commit (limit ${this.maxPending})`),
      );
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flushNow();
      else this.commitSoon.schedule();
    });
  }

  /**
   * Commit one event now (start-up and shutdown paths), after everything already queued.
   * Throws TypeError for a malformed event, StorageError when the commit fails.
   */
  appendSync(input: NewEvent): StoredEvent {
    const problem = invalidEvent(input);
    if (problem) throw new TypeError(problem);
    if (this.closed) throw new StorageError(`cannot append ${input.type}: the event store is closed`);
    this.flushNow();
    let error: Error | undefined;
    // Resolution may be deferred (called from inside a handler); the commit's result is not.
    const [stored] = this.commit([{ input, resolve: () => undefined, reject: (e) => (error = e) }]);
    if (error || !stored) throw error ?? new StorageError(`${input.type} was not recorded`);
    return stored;
  }

  /** Commit everything queued so far. */
  async flush(): Promise<void> {
    this.flushNow();
  }

  /** Decoded events after `afterSeq`, oldest first. */
  read(afterSeq: number, limit: number, filter: EventFilter = {}): DurableEvent[] {
    return this.readRaw(afterSeq, limit, filter).map((row) => decodeValue(row.bytes) as DurableEvent);
  }

  /** Stored payloads after `afterSeq`, untouched: for replay without decode and re-encode. */
  readRaw(afterSeq: number, limit: number, filter: EventFilter = {}): RawEventRow[] {
    return this.reader.raw(afterSeq, limit, filter);
  }

  /**
   * Up to `limit` stored events after `afterSeq`, each framed as `prefix` followed by its
   * stored bytes (a notification whose last field is the event), concatenated by SQLite in
   * seq order: one buffer per page instead of one per row, and no row reaches JavaScript.
   * Throws like readRaw; a page beyond SQLite's blob limit (1e9 bytes) throws too (the caller
   * can read that page with readRaw).
   */
  readFramed(afterSeq: number, limit: number, filter: EventFilter, prefix: Buffer): FramedPage {
    return this.reader.framed(afterSeq, limit, filter, prefix);
  }

  getJob(jobId: string): JobRecord | undefined {
    return this.jobs.get(jobId);
  }

  /** Jobs newest submitted first, and how many match in all. */
  listJobs(options: { statuses?: readonly JobStatus[]; limit: number }): { jobs: JobRecord[]; total: number } {
    return this.jobs.list(options);
  }

  /** Jobs not yet ended (ACTIVE_JOB_STATUSES: queued, running, paused, pending), oldest first. */
  activeJobs(): JobRecord[] {
    return this.jobs.active();
  }

  /** The projection computed from scratch from the stored log; the jobs table is not touched. */
  rebuildProjection(): Map<string, JobRecord> {
    return this.jobs.rebuild();
  }

  /**
   * Delete events with ts older than now - maxAgeSeconds. What is KEPT, whatever its age:
   * - every event of a job not yet ended (its story is not finished, and a restart
   *   must be able to close it);
   * - every event of a terminal job that ended after the cutoff, so a job's story in the log is
   *   either whole or gone — never a tail without its job.submitted.
   * Events of unknown jobs and events with no job are deleted by age alone. The head seq is
   * kept (in meta), so seqs never restart even if the log becomes empty.
   * Job rows are kept (job.get / job.list still answer) unless `pruneJobs` is set; then terminal
   * jobs that ended before the cutoff are deleted too.
   * Runs as one transaction on the event loop; called rarely (hourly), after a flush.
   */
  applyRetention(
    maxAgeSeconds: number,
    now = nowSeconds(),
    options: { pruneJobs?: boolean } = {},
  ): { deleted_events: number; deleted_jobs: number } {
    if (!(typeof maxAgeSeconds === 'number' && maxAgeSeconds >= 0)) throw new RangeError(`maxAgeSeconds must be >= 0, got ${maxAgeSeconds}`);
    if (this.closed) throw new StorageError('cannot apply retention: the event store is closed');
    this.flushNow();
    return deleteBefore(this.db, now - maxAgeSeconds, options.pruneJobs === true);
  }

  /** Ids of ended jobs (optionally of these statuses, ended before a time), oldest ended first. */
  endedJobIds(options: { statuses?: readonly JobStatus[]; endedBefore?: number; limit: number }): string[] {
    return this.jobs.endedJobIds(options);
  }

  /** The conductor's own small durable notes (not events), by key. Throws StorageError when unreadable. */
  readNote(key: string): string | undefined {
    return this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(`note:${key}`) as string | undefined;
  }

  /** Store (or with undefined, delete) a note; committed at once. Throws StorageError when it cannot be written. */
  writeNote(key: string, value: string | undefined): void {
    if (this.closed) throw new StorageError(`cannot write note ${key}: the event store is closed`);
    try {
      if (value === undefined) this.db.prepare('DELETE FROM meta WHERE key = ?').run(`note:${key}`);
      else this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(`note:${key}`, value);
    } catch (err) {
      throw new StorageError(`could not write note ${key}: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Payload bytes of the events after `afterSeq`, counting at most `maxEvents` of them (a lag
   * measure for exporters: bounded so a large lag costs a bounded read).
   */
  payloadBytesAfter(afterSeq: number, maxEvents: number): { bytes: number; events: number } {
    return this.reader.payloadBytesAfter(afterSeq, maxEvents);
  }

  /** Commit what is queued, checkpoint the WAL into the database file, close. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flushNow();
    this.closed = true;
    this.wal.close();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log(`event store: final checkpoint failed (the WAL is replayed on next open): ${describeError(err)}`);
    }
    this.db.close();
  }

  private flushNow(): void {
    while (this.pending.length > 0 && !this.closed) {
      this.commit(this.pending.splice(0, this.maxBatch));
    }
  }

  /**
   * One transaction for the batch, then publication in seq order. Never throws: failures
   * reject the batch's promises. Returns the events committed (empty when the commit failed).
   */
  private commit(batch: Pending[]): StoredEvent[] {
    const work: CommitWork = { batch, bytes: 0, firstSeq: this.head + 1, stored: [], committed: [], malformed: [] };
    try {
      this.writer.write(work);
    } catch (err) {
      this.stats.failedCommits += 1;
      const message = `event store write failed (${batch.length} event(s) not recorded): ${describeError(err)}`;
      this.health = { writable: false, last_error: message };
      const error = new StorageError(message, { cause: err });
      for (const p of batch) p.reject(error);
      return [];
    }
    const { stored } = work;
    if (stored.length > 0) {
      this.head = stored[stored.length - 1]!.event.seq;
      this.stats.commits += 1;
      this.stats.events += stored.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, stored.length);
      if (!this.health.writable) this.health = { writable: true };
      this.wal.noteWrite(work.bytes, stored.length);
    }
    for (const m of work.malformed) m.pending.reject(m.error);
    this.delivery.push(stored, work.committed);
    return stored;
  }
}
