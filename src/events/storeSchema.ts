/**
 * The event store's SQLite file: connection settings, tables, and the schema version it must
 * carry. Opening is all there is; nothing here runs per event.
 */
import Database from 'better-sqlite3';
import { StorageError } from './storageError.js';

const SCHEMA_VERSION = 1;

/**
 * SQLite page cache of the conductor's connections (the event store, its checkpoint worker, the
 * monitor database), in SQLite's units (negative = KiB): SQLite's own default of 2 MB.
 * better-sqlite3 builds with 16 MB per connection, which a burst of appends filled with pages it
 * never reads again (appends touch the right edge of each b-tree; replays read in order, from
 * the OS cache): 11-17 MB of the conductor's malloc heap, never given back.
 */
export const SQLITE_CACHE_SIZE = -2000;

/** Open (creating if new) the event database. Throws StorageError on a foreign schema version. */
export function openEventDatabase(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  try {
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
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The last seq ever committed. Retention may empty the table; meta keeps the head so seqs never restart. */
export function readHeadSeq(db: Database.Database): number {
  const maxSeq = db.prepare('SELECT MAX(seq) FROM events').pluck().get() as number | null;
  const savedHead = db.prepare("SELECT value FROM meta WHERE key = 'head_seq'").pluck().get() as string | undefined;
  return Math.max(maxSeq ?? 0, savedHead !== undefined ? Number(savedHead) : 0);
}
