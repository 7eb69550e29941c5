/**
 * The export worker's own read-only view of events.db (SQLite WAL: readers never block the
 * conductor's writer). The reads are the store's (events after a seq, in seq order), kept
 * here because the worker must not open the store itself (schema work, checkpointer, bus).
 */
import Database from 'better-sqlite3';
import type { RawEventRow } from '../events/store.js';
import type { ExportSource } from './eventExport.js';

export class ReadOnlyEventSource implements ExportSource {
  private readonly db: Database.Database;
  private readonly rows: Database.Statement;
  private readonly head: Database.Statement;
  private readonly first: Database.Statement;

  constructor(dbPath: string) {
    this.db = new Database(dbPath, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.rows = this.db.prepare('SELECT seq, type, job_id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?').raw(true);
    // Retention may empty the table: the store keeps its head in meta too (seqs never restart).
    this.head = this.db
      .prepare("SELECT max(coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'head_seq'), 0))")
      .pluck();
    this.first = this.db.prepare('SELECT min(seq) FROM events').pluck();
  }

  get headSeq(): number {
    return this.head.get() as number;
  }

  get firstSeq(): number {
    return (this.first.get() as number | null) ?? this.headSeq + 1;
  }

  readRaw(afterSeq: number, limit: number): RawEventRow[] {
    const rows = this.rows.all(afterSeq, limit) as Array<[number, string, string | null, Buffer]>;
    return rows.map(([seq, type, job_id, bytes]) => ({ seq, type, job_id, bytes }));
  }

  close(): void {
    this.db.close();
  }
}
