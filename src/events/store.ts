/**
 * The durable event log on SQLite (better-sqlite3, WAL).
 *
 * - Group commit: appends made together (in one callback, or in one turn of the event loop once
 *   that turn has committed already: soon.ts) are committed in one transaction (DESIGN.md:
 *   ~300k rows/s at 100 per transaction against ~55k at one), at most `maxBatch` per
 *   transaction; at most `maxPending` appends wait for a commit.
 * - Seq is assigned inside the transaction: gap-free and increasing from 1. A failed commit
 *   rolls back and leaves the head where it was, so the next commit reuses those seqs.
 * - The job projection (projection.ts) is updated in the same transaction as the append.
 * - Only after the commit are events published, synchronously and in seq order, and only then
 *   are the append promises resolved. `headSeq` moves at the commit, before publication.
 * - Each envelope is encoded once, at commit; those bytes are stored and replayed as they are.
 *
 * WAL checkpoints: SQLite's automatic checkpoint (every ~1000 pages, PASSIVE) runs inside the
 * commit that crosses the threshold and stalls the event loop 9-17 ms (measured). So the writer's
 * automatic checkpoint is off (`wal_autocheckpoint = 0`) and a worker thread with its own
 * connection runs the same PASSIVE checkpoint when about as many pages have been written:
 * PASSIVE never blocks the writer (or readers), so commits go on while it copies and fsyncs.
 * The worker is started at the first checkpoint (an idle conductor has none) and exits after
 * 30 s without one (CHECKPOINTER_IDLE_MS), to be started again at the next; it runs at a lower
 * CPU priority than the conductor (CHECKPOINT_NICE_INCREMENT). If it cannot be
 * started or fails, the store falls back to SQLite's automatic checkpoint. `journal_size_limit`
 * keeps the WAL file from staying large after a burst.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { decodeValue, encodeValue } from '../ipc/framing.js';
import { buildEnvelope } from './envelope.js';
import { Soon } from './soon.js';
import type { JobRecord, JobStatus } from './jobRecord.js';
import { ACTIVE_JOB_STATUSES, TERMINAL_JOB_STATUSES } from './jobRecord.js';
import { applyJobEvent } from './projection.js';
import { nowSeconds, type DurableEvent, type EventFilter, type NewEvent, type StoredEvent } from './types.js';

export type { StoredEvent } from './types.js';

/** The database could not be opened, read or written (disk full, I/O error, closed store...). */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export interface StoreHealth {
  writable: boolean;
  last_error?: string;
}

/** A stored event as it sits on disk: the envelope's bytes, untouched. */
export interface RawEventRow {
  seq: number;
  type: string;
  job_id: string | null;
  bytes: Buffer;
}

/** Stored events already framed for the socket: what a replay sends, built inside SQLite. */
export interface FramedPage {
  /** Events in `frames` (0 when nothing is left after `afterSeq`). */
  count: number;
  /** Seq of the last event in `frames`. */
  lastSeq: number;
  /** `count` frames back to back: u32 BE length, `prefix`, the stored bytes as they are. */
  frames: Buffer;
}

/** Where committed events go (the EventBus fits). Called synchronously, in seq order. */
export interface CommittedEventSink {
  publish(event: StoredEvent): void;
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
/**
 * SQLite page cache of the conductor's connections (the event store, its checkpoint worker, the
 * monitor database), in SQLite's units (negative = KiB): SQLite's own default of 2 MB.
 * better-sqlite3 builds with 16 MB per connection, which a burst of appends filled with pages it
 * never reads again (appends touch the right edge of each b-tree; replays read in order, from
 * the OS cache): 11-17 MB of the conductor's malloc heap, never given back.
 */
export const SQLITE_CACHE_SIZE = -2000;
/** WAL size, in checkpoints' worth of pages, beyond which the main thread finishes a checkpoint. */
const MAX_WAL_CHECKPOINTS = 8;
/**
 * How much lower the checkpoint worker's CPU priority is than the conductor's (nice levels).
 * At 10k events/s on 2 cores it took the paced append→decoded p99 from a median of ~0.96 to
 * ~0.58 ms (BENCHMARKS.md). A starved worker cannot let the WAL grow without end: past
 * MAX_WAL_CHECKPOINTS the main thread checkpoints at its own priority (noteWalWrite).
 */
export const CHECKPOINT_NICE_INCREMENT = 10;

/**
 * The checkpoint worker's code (eval'd, so it needs no file of its own next to the compiled
 * one). Each message runs one PASSIVE checkpoint and answers with SQLite's counts.
 */
const CHECKPOINT_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Housekeeping yields the CPU to the event path: this thread runs CHECKPOINT_NICE_INCREMENT
// nice levels below the conductor (on Linux a thread has its own nice value, and
// /proc/thread-self names the thread). Elsewhere, or if refused, it keeps the conductor's.
try {
  const os = require('node:os');
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  os.setPriority(tid, Math.min(19, os.getPriority(tid) + workerData.niceIncrement));
} catch {}
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = ' + workerData.cacheSize);
parentPort.on('message', (msg) => {
  if (msg === 'close') { db.close(); parentPort.close(); return; }
  try {
    // Commits go on meanwhile: SQLite's counts are those of the WAL as the pass began, and the
    // WAL file rewinds only once a commit starts with every frame checkpointed. So pass again
    // while the previous pass let many frames in; each pass is shorter than the one before, and
    // what is left for the main thread to finish (see MAX_WAL_CHECKPOINTS) stays small.
    let r;
    let passes = 0;
    let previousLog = -Infinity;
    while (passes < 8) {
      r = db.pragma('wal_checkpoint(PASSIVE)')[0];
      passes += 1;
      if (r.busy || r.log - previousLog < 64) break;
      previousLog = r.log;
    }
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed, passes });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  input: NewEvent;
  resolve: (e: StoredEvent) => void;
  reject: (err: Error) => void;
}

interface CommitWork {
  batch: Pending[];
  /** Event bytes written by the transaction (for the checkpoint estimate). */
  bytes: number;
  firstSeq: number;
  stored: StoredEvent[];
  committed: Pending[];
  malformed: Array<{ pending: Pending; error: Error }>;
}

const SCHEMA_VERSION = 1;
/** Rows per multi-row INSERT (measured: ~1.0 µs a row against ~1.45 µs one row at a time). */
const INSERT_ROWS = 50;
const INSERT_COLUMNS = 6;
const ACTIVE_SQL_LIST = ACTIVE_JOB_STATUSES.map((s) => `'${s}'`).join(', ');
/** Filter shapes with more type prefixes than this are prepared per call instead of cached. */
const MAX_CACHED_TYPE_PREFIXES = 8;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why a NewEvent cannot be stored, or undefined when it can. */
function invalidEvent(e: NewEvent): string | undefined {
  if (!isPlainObject(e)) return 'the event must be an object';
  if (typeof e.type !== 'string' || e.type.length === 0) return 'event type must be a non-empty string';
  if (e.job_id !== undefined && typeof e.job_id !== 'string') return `${e.type}: job_id must be a string`;
  if (e.sheet_num !== undefined && !Number.isSafeInteger(e.sheet_num)) return `${e.type}: sheet_num must be an integer`;
  if (e.ts !== undefined && !(typeof e.ts === 'number' && Number.isFinite(e.ts))) return `${e.type}: ts must be a finite number`;
  if (e.data !== undefined && !isPlainObject(e.data)) return `${e.type}: data must be an object`;
  return undefined;
}

function checkCursor(afterSeq: number, limit: number): void {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`afterSeq must be an integer >= 0, got ${afterSeq}`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
}

/**
 * A type prefix as SQL. ASCII prefixes become a range on the binary order
 * (`type >= 'job.' AND type < 'job/'`); others compare the leading characters.
 */
function typePrefixClause(prefix: string): { kind: 'r' | 's'; sql: string; params: string[] } {
  const last = prefix.charCodeAt(prefix.length - 1);
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(prefix) && last < 0x7f) {
    const end = prefix.slice(0, -1) + String.fromCharCode(last + 1);
    return { kind: 'r', sql: '(type >= ? AND type < ?)', params: [prefix, end] };
  }
  return { kind: 's', sql: '(substr(type, 1, length(?)) = ?)', params: [prefix, prefix] };
}

export class EventStore {
  readonly path: string;
  health: StoreHealth = { writable: true };
  /** Counters for tests and status: transactions committed and failed, events committed. */
  readonly stats = { commits: 0, failedCommits: 0, events: 0, largestBatch: 0 };

  private readonly db: Database.Database;
  private readonly bus: CommittedEventSink | undefined;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly log: (message: string) => void;
  private pending: Pending[] = [];
  /** The group commit: soon after the first append of a batch (see soon.ts). */
  private readonly commitSoon = new Soon(() => this.flushNow());
  /** Committed batches waiting to be published; publication never interleaves two batches. */
  private readonly toDeliver: Array<{ stored: StoredEvent[]; batch: Pending[] }> = [];
  private delivering = false;
  private head: number;
  private closed = false;
  private checkpointMode: 'worker' | 'auto';
  private checkpointer: Worker | undefined;
  private checkpointInFlight = false;
  private checkpointerIdleTimer: NodeJS.Timeout | undefined;
  private readonly checkpointerIdleMs: number;
  /** Estimated pages written to the WAL since the last checkpoint request. */
  private walPages = 0;
  private readonly checkpointPages: number;
  /** Counters for tests and status: checkpoints run by the worker. */
  readonly checkpointStats = { requested: 0, done: 0, failed: 0, onMainThread: 0, walPages: 0, workerStarts: 0, workerIdleStops: 0 };

  private readonly insertEvent: Database.Statement;
  /** INSERT of INSERT_ROWS rows at once: one call into SQLite instead of INSERT_ROWS. */
  private readonly insertEvents: Database.Statement;
  private readonly insertParams: unknown[] = new Array(INSERT_ROWS * INSERT_COLUMNS);
  private readonly upsertJob: Database.Statement;
  private readonly selectJob: Database.Statement;
  private readonly deleteJob: Database.Statement;
  private readonly saveHead: Database.Statement;
  private readonly selectFirstSeq: Database.Statement;
  private readonly selectActive: Database.Statement;
  private readonly readStatements = new Map<string, Database.Statement>();
  private readonly framedStatements = new Map<string, Database.Statement>();
  private readonly writeBatch: (work: CommitWork) => void;

  private constructor(db: Database.Database, path: string, options: EventStoreOptions) {
    this.db = db;
    this.path = path;
    this.bus = options.bus;
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxPending = options.maxPending ?? 100_000;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError(`maxBatch must be an integer >= 1`);
    if (!Number.isSafeInteger(this.maxPending) || this.maxPending < 1) throw new RangeError(`maxPending must be an integer >= 1`);
    this.writeBatch = db.transaction((work: CommitWork) => this.writeBatchBody(work));
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    // MZT_WAL_CHECKPOINT=auto: the old behaviour, for benchmarks to compare in the same run.
    this.checkpointMode = options.checkpoint ?? (process.env.MZT_WAL_CHECKPOINT === 'auto' ? 'auto' : 'worker');
    if (this.checkpointMode === 'worker' && db.memory) this.checkpointMode = 'auto';
    this.checkpointPages = options.checkpointPages ?? CHECKPOINT_PAGES;
    if (!Number.isSafeInteger(this.checkpointPages) || this.checkpointPages < 1) throw new RangeError('checkpointPages must be an integer >= 1');
    this.checkpointerIdleMs = options.checkpointerIdleMs ?? CHECKPOINTER_IDLE_MS;
    if (this.checkpointMode === 'worker') db.pragma('wal_autocheckpoint = 0');
    this.insertEvent = db.prepare('INSERT INTO events (seq, ts, type, job_id, sheet_num, payload) VALUES (?, ?, ?, ?, ?, ?)');
    this.insertEvents = db.prepare(
      `INSERT INTO events (seq, ts, type, job_id, sheet_num, payload) VALUES ${Array(INSERT_ROWS).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`,
    );
    this.upsertJob = db.prepare(
      'INSERT INTO jobs (job_id, status, submitted_at, record) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT(job_id) DO UPDATE SET status = excluded.status, record = excluded.record',
    );
    this.selectJob = db.prepare('SELECT record FROM jobs WHERE job_id = ?').pluck();
    this.deleteJob = db.prepare('DELETE FROM jobs WHERE job_id = ?');
    this.saveHead = db.prepare("INSERT INTO meta (key, value) VALUES ('head_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    this.selectFirstSeq = db.prepare('SELECT MIN(seq) FROM events').pluck();
    this.selectActive = db.prepare(`SELECT record FROM jobs WHERE status IN (${ACTIVE_SQL_LIST}) ORDER BY submitted_at, rowid`).pluck();
    const maxSeq = db.prepare('SELECT MAX(seq) FROM events').pluck().get() as number | null;
    const savedHead = db.prepare("SELECT value FROM meta WHERE key = 'head_seq'").pluck().get() as string | undefined;
    // Retention may empty the table; meta keeps the head so seqs never restart.
    this.head = Math.max(maxSeq ?? 0, savedHead !== undefined ? Number(savedHead) : 0);
  }

  static open(dbPath: string, options: EventStoreOptions = {}): EventStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(dbPath);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_size_limit = 67108864');
      db.pragma(`cache_size = ${SQLITE_CACHE_SIZE}`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS events (
          seq INTEGER PRIMARY KEY,
          ts REAL NOT NULL,
          type TEXT NOT NULL,
          job_id TEXT,
          sheet_num INTEGER,
          payload BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS events_job_seq ON events (job_id, seq) WHERE job_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
        CREATE TABLE IF NOT EXISTS jobs (
          job_id TEXT PRIMARY KEY,
          status TEXT NOT NULL,
          submitted_at REAL NOT NULL,
          record TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
        CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted_at);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      `);
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get() as string | undefined;
      if (version === undefined) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
      } else if (Number(version) !== SCHEMA_VERSION) {
        throw new StorageError(`schema version ${version} is not the one this conductor understands (${SCHEMA_VERSION})`);
      }
      return new EventStore(db, dbPath, options);
    } catch (err) {
      db?.close();
      if (err instanceof RangeError) throw err;
      throw new StorageError(`cannot open the event store ${dbPath}: ${describe(err)}`, { cause: err });
    }
  }

  /** Last committed seq; 0 when nothing was ever committed. */
  get headSeq(): number {
    return this.head;
  }

  /** Lowest seq still stored (retention deletes older ones); headSeq + 1 when none is. */
  get firstSeq(): number {
    const first = this.selectFirstSeq.get() as number | null;
    return first ?? this.head + 1;
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
      else this.scheduleFlush();
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
    checkCursor(afterSeq, limit);
    const { statement, params } = this.readStatement(filter);
    const rows = statement.all(afterSeq, ...params, limit) as Array<[number, string, string | null, Buffer]>;
    return rows.map(([seq, type, job_id, bytes]) => ({ seq, type, job_id, bytes }));
  }

  /**
   * Up to `limit` stored events after `afterSeq`, each framed as `prefix` followed by its
   * stored bytes (a notification whose last field is the event), concatenated by SQLite in
   * seq order: one buffer per page instead of one per row, and no row reaches JavaScript.
   * Throws like readRaw; a page beyond SQLite's blob limit (1e9 bytes) throws too (the caller
   * can read that page with readRaw).
   */
  readFramed(afterSeq: number, limit: number, filter: EventFilter, prefix: Buffer): FramedPage {
    checkCursor(afterSeq, limit);
    const { statement, params } = this.readStatement(filter, 'framed');
    const [count, lastSeq, frames] = statement.get(prefix.length, prefix, afterSeq, ...params, limit) as [number, number | null, Buffer | null];
    return { count, lastSeq: lastSeq ?? afterSeq, frames: frames ?? Buffer.alloc(0) };
  }

  getJob(jobId: string): JobRecord | undefined {
    const json = this.selectJob.get(jobId) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as JobRecord);
  }

  /** Jobs newest submitted first, and how many match in all. */
  listJobs(options: { statuses?: readonly JobStatus[]; limit: number }): { jobs: JobRecord[]; total: number } {
    const statuses = options.statuses ?? [];
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${options.limit}`);
    const where = statuses.length ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
    const total = this.db.prepare(`SELECT COUNT(*) FROM jobs ${where}`).pluck().get(...statuses) as number;
    const records = this.db
      .prepare(`SELECT record FROM jobs ${where} ORDER BY submitted_at DESC, rowid DESC LIMIT ?`)
      .pluck()
      .all(...statuses, options.limit) as string[];
    return { jobs: records.map((r) => JSON.parse(r) as JobRecord), total };
  }

  /** Jobs queued or running, oldest first. */
  activeJobs(): JobRecord[] {
    return (this.selectActive.all() as string[]).map((r) => JSON.parse(r) as JobRecord);
  }

  /** The projection computed from scratch from the stored log; the jobs table is not touched. */
  rebuildProjection(): Map<string, JobRecord> {
    const jobs = new Map<string, JobRecord>();
    const payloads = this.db.prepare('SELECT payload FROM events WHERE job_id IS NOT NULL ORDER BY seq').pluck().iterate() as IterableIterator<Buffer>;
    for (const payload of payloads) {
      const event = decodeValue(payload) as DurableEvent;
      const jobId = event.job_id!;
      const next = applyJobEvent(jobs.get(jobId), event);
      if (next) jobs.set(jobId, next);
      else jobs.delete(jobId);
    }
    return jobs;
  }

  /**
   * Delete events with ts older than now - maxAgeSeconds. What is KEPT, whatever its age:
   * - every event of a job still queued or running (its story is not finished, and a restart
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
    const cutoff = now - maxAgeSeconds;
    const endedBeforeCutoff = `status NOT IN (${ACTIVE_SQL_LIST}) AND json_extract(record, '$.ended_at') < @cutoff`;
    return this.db.transaction(() => {
      const events = this.db
        .prepare(
          `DELETE FROM events WHERE ts < @cutoff AND (job_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM jobs WHERE jobs.job_id = events.job_id AND NOT (${endedBeforeCutoff})))`,
        )
        .run({ cutoff });
      const jobs = options.pruneJobs ? this.db.prepare(`DELETE FROM jobs WHERE ${endedBeforeCutoff}`).run({ cutoff }) : { changes: 0 };
      return { deleted_events: events.changes, deleted_jobs: jobs.changes };
    })();
  }

  /** Ids of ended jobs (optionally of these statuses, ended before a time), oldest ended first. */
  endedJobIds(options: { statuses?: readonly JobStatus[]; endedBefore?: number; limit: number }): string[] {
    const statuses = (options.statuses?.length ? options.statuses : TERMINAL_JOB_STATUSES).filter((s) => TERMINAL_JOB_STATUSES.includes(s));
    if (statuses.length === 0) return [];
    const params: unknown[] = [...statuses];
    let where = `status IN (${statuses.map(() => '?').join(', ')})`;
    if (options.endedBefore !== undefined) {
      where += " AND json_extract(record, '$.ended_at') < ?";
      params.push(options.endedBefore);
    }
    const sql = `SELECT job_id FROM jobs WHERE ${where} ORDER BY json_extract(record, '$.ended_at'), rowid LIMIT ?`;
    return this.db.prepare(sql).pluck().all(...params, options.limit) as string[];
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
      throw new StorageError(`could not write note ${key}: ${describe(err)}`, { cause: err });
    }
  }

  /**
   * Payload bytes of the events after `afterSeq`, counting at most `maxEvents` of them (a lag
   * measure for exporters: bounded so a large lag costs a bounded read).
   */
  payloadBytesAfter(afterSeq: number, maxEvents: number): { bytes: number; events: number } {
    const [bytes, events] = this.db
      .prepare('SELECT coalesce(sum(length(payload)), 0), count(*) FROM (SELECT payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)')
      .raw(true)
      .get(afterSeq, maxEvents) as [number, number];
    return { bytes, events };
  }

  /** Commit what is queued, checkpoint the WAL into the database file, close. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flushNow();
    this.closed = true;
    this.stopCheckpointer();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log(`event store: final checkpoint failed (the WAL is replayed on next open): ${describe(err)}`);
    }
    this.db.close();
  }

  private readStatement(filter: EventFilter, shape: 'rows' | 'framed' = 'rows'): { statement: Database.Statement; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    let key = '';
    if (filter.job_id !== undefined) {
      if (typeof filter.job_id !== 'string') throw new TypeError('filter.job_id must be a string');
      clauses.push('job_id = ?');
      params.push(filter.job_id);
      key += 'j';
    }
    const types = filter.types ?? [];
    if (!Array.isArray(types) || types.some((t) => typeof t !== 'string')) throw new TypeError('filter.types must be an array of strings');
    // An empty prefix matches every type, so the whole type filter falls away.
    if (types.length > 0 && !types.includes('')) {
      const prefixes = types.map(typePrefixClause);
      clauses.push(`(${prefixes.map((p) => p.sql).join(' OR ')})`);
      for (const p of prefixes) params.push(...p.params);
      key += `:${prefixes.map((p) => p.kind).join('')}`;
    }
    const where = `seq > ?${clauses.map((c) => ` AND ${c}`).join('')}`;
    // framed: the frame header is the 4-byte big-endian length of prefix + payload (unhex of
    // 8 hex digits); || and group_concat keep the bytes as they are, CAST gives them back as a blob.
    const sql =
      shape === 'rows'
        ? `SELECT seq, type, job_id, payload FROM events WHERE ${where} ORDER BY seq LIMIT ?`
        : `SELECT count(*), max(seq), CAST(group_concat(frame, '' ORDER BY seq) AS BLOB) FROM (` +
          `SELECT seq, unhex(printf('%08X', length(payload) + ?)) || ? || payload AS frame ` +
          `FROM events WHERE ${where} ORDER BY seq LIMIT ?)`;
    const cache = shape === 'rows' ? this.readStatements : this.framedStatements;
    const cacheable = types.length <= MAX_CACHED_TYPE_PREFIXES;
    let statement = cacheable ? cache.get(key) : undefined;
    if (!statement) {
      statement = this.db.prepare(sql).raw(true);
      if (cacheable) cache.set(key, statement);
    }
    return { statement, params };
  }

  private scheduleFlush(): void {
    this.commitSoon.schedule();
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
      this.writeBatch(work);
    } catch (err) {
      this.stats.failedCommits += 1;
      const message = `event store write failed (${batch.length} event(s) not recorded): ${describe(err)}`;
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
      this.noteWalWrite(work.bytes, stored.length);
    }
    for (const m of work.malformed) m.pending.reject(m.error);
    this.toDeliver.push({ stored, batch: work.committed });
    this.deliver();
    return stored;
  }

  /** The body of a commit's transaction (wrapped once by db.transaction in the constructor). */
  private writeBatchBody(work: CommitWork): void {
    // undefined: the record was deleted (job.cleared).
    const touched = new Map<string, JobRecord | undefined>();
    let seq = work.firstSeq - 1;
    // Events of one commit share its time unless they bring their own.
    const now = nowSeconds();
    const params = this.insertParams;
    let filled = 0; // rows waiting in params
    for (const p of work.batch) {
      const { input } = p;
      const event = buildEnvelope(seq + 1, input.ts ?? now, input.type, input.job_id, input.sheet_num, input.data ?? {}) as DurableEvent;
      let bytes: Buffer;
      try {
        bytes = encodeValue(event);
      } catch (err) {
        // Only this event is refused, and it takes no seq.
        work.malformed.push({ pending: p, error: new TypeError(`${input.type}: data cannot be encoded: ${describe(err)}`) });
        continue;
      }
      seq += 1;
      const at = filled * INSERT_COLUMNS;
      params[at] = seq;
      params[at + 1] = event.ts;
      params[at + 2] = event.type;
      params[at + 3] = event.job_id ?? null;
      params[at + 4] = event.sheet_num ?? null;
      params[at + 5] = bytes;
      if (++filled === INSERT_ROWS) {
        this.insertEvents.run(params);
        filled = 0;
      }
      if (event.job_id !== undefined) {
        const before = touched.has(event.job_id) ? touched.get(event.job_id) : this.getJob(event.job_id);
        const after = applyJobEvent(before, event);
        if (after !== before) touched.set(event.job_id, after);
      }
      work.bytes += bytes.length;
      work.stored.push({ event, bytes });
      work.committed.push(p);
    }
    for (let r = 0; r < filled; r++) {
      const at = r * INSERT_COLUMNS;
      this.insertEvent.run(params[at], params[at + 1], params[at + 2], params[at + 3], params[at + 4], params[at + 5]);
    }
    // Do not keep the batch's buffers alive until the next commit.
    params.fill(undefined);
    for (const [jobId, record] of touched) {
      if (record) this.upsertJob.run(record.job_id, record.status, record.submitted_at, JSON.stringify(record));
      else this.deleteJob.run(jobId);
    }
    if (work.stored.length > 0) this.saveHead.run(String(seq));
  }


  /** Count what a commit wrote to the WAL; ask the worker for a checkpoint past the threshold. */
  private noteWalWrite(bytes: number, rows: number): void {
    if (this.checkpointMode !== 'worker') return;
    this.walPages += PAGES_PER_COMMIT + (bytes + rows * ROW_OVERHEAD_BYTES) / PAGE_BYTES;
    if (this.checkpointInFlight) {
      // The worker runs at a lower priority: on a saturated CPU it may not run for a while, and
      // the WAL must not grow without end meanwhile. Past the bound the main thread checkpoints
      // (PASSIVE: if the worker is in the middle of a pass, this returns at once), and tries
      // again after each further checkpoint's worth of pages while the worker has not answered.
      if (this.walPages >= MAX_WAL_CHECKPOINTS * this.checkpointPages) {
        this.walPages -= this.checkpointPages;
        this.checkpointOnMainThread();
      }
      return;
    }
    if (this.walPages < this.checkpointPages) return;
    const worker = this.checkpointer ?? this.startCheckpointer();
    if (!worker) return;
    this.walPages = 0;
    this.checkpointInFlight = true;
    this.checkpointStats.requested += 1;
    clearTimeout(this.checkpointerIdleTimer);
    worker.postMessage('checkpoint');
  }

  /** A PASSIVE checkpoint between two commits, on the event loop (a short stall). */
  private checkpointOnMainThread(): void {
    if (this.closed) return;
    this.checkpointStats.onMainThread += 1;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      this.log(`event store: checkpoint failed (retried later): ${describe(err)}`);
    }
  }

  private startCheckpointer(): Worker | undefined {
    try {
      const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(CHECKPOINT_WORKER_SOURCE, {
        eval: true,
        workerData: { path: this.path, sqlite, cacheSize: SQLITE_CACHE_SIZE, niceIncrement: CHECKPOINT_NICE_INCREMENT },
      });
      worker.unref();
      this.checkpointStats.workerStarts += 1;
      worker.on('message', (r: { ok: boolean; log?: number; checkpointed?: number; error?: string }) => {
        this.checkpointInFlight = false;
        this.armCheckpointerIdleStop(worker);
        if (!r.ok) {
          // Retried at the next threshold; the WAL keeps the data meanwhile.
          this.checkpointStats.failed += 1;
          return;
        }
        this.checkpointStats.done += 1;
        this.checkpointStats.walPages = r.log ?? 0;
        // The WAL rewinds only when a commit starts with every frame checkpointed. Under commits
        // that never pause, the worker's pass always ends behind the commit in progress, so the
        // WAL keeps growing. Past a bound, finish here, between two commits: only the frames
        // written since the worker's pass are left to copy (a short stall, once per bound).
        if ((r.log ?? 0) > MAX_WAL_CHECKPOINTS * this.checkpointPages) this.checkpointOnMainThread();
      });
      worker.on('error', (err) => this.checkpointerFailed(worker, err));
      worker.on('exit', (code) => {
        if (this.checkpointer === worker && !this.closed) this.checkpointerFailed(worker, new Error(`exited with code ${code}`));
      });
      this.checkpointer = worker;
      return worker;
    } catch (err) {
      this.checkpointerFailed(undefined, err);
      return undefined;
    }
  }

  /** Back to SQLite's own checkpoints (on the event loop): the WAL must not grow without end. */
  private checkpointerFailed(worker: Worker | undefined, err: unknown): void {
    if (worker && this.checkpointer !== worker) return;
    this.checkpointer = undefined;
    this.checkpointInFlight = false;
    if (this.checkpointMode !== 'worker') return;
    this.checkpointMode = 'auto';
    this.log(`event store: checkpoint worker failed (${describe(err)}); using SQLite's automatic checkpoints`);
    if (!this.closed) {
      try {
        this.db.pragma(`wal_autocheckpoint = ${this.checkpointPages}`);
      } catch {
        /* a closed or broken database: nothing left to checkpoint */
      }
    }
  }

  /** Let the worker go if no checkpoint is asked of it for a while (see CHECKPOINTER_IDLE_MS). */
  private armCheckpointerIdleStop(worker: Worker): void {
    clearTimeout(this.checkpointerIdleTimer);
    this.checkpointerIdleTimer = setTimeout(() => {
      if (this.checkpointer !== worker || this.checkpointInFlight || this.closed) return;
      this.checkpointStats.workerIdleStops += 1;
      this.stopCheckpointer();
    }, this.checkpointerIdleMs);
    this.checkpointerIdleTimer.unref();
  }

  private stopCheckpointer(): void {
    clearTimeout(this.checkpointerIdleTimer);
    const worker = this.checkpointer;
    this.checkpointer = undefined;
    if (!worker) return;
    // The worker closes its connection and exits; a checkpoint it is running finishes first,
    // and the final TRUNCATE checkpoint waits for it (busy_timeout).
    worker.postMessage('close');
  }

  /**
   * Publish committed batches in order. A handler that appends while we publish (appendSync,
   * or a full batch) commits at once, but its events wait here until the current batch is
   * fully published, so every subscriber sees seq order. The queue holds only committed
   * batches, so it is bounded by maxPending.
   */
  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.toDeliver.shift(); next; next = this.toDeliver.shift()) {
        for (const event of next.stored) {
          try {
            this.bus?.publish(event);
          } catch (err) {
            this.log(`event store: publishing seq ${event.event.seq} failed: ${describe(err)}`);
          }
        }
        for (let i = 0; i < next.batch.length; i++) next.batch[i]!.resolve(next.stored[i]!);
      }
    } finally {
      this.delivering = false;
    }
  }
}
