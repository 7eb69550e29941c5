/**
 * The export worker's own read-only view of events.db (SQLite WAL: readers never block the
 * conductor's writer), through the store's readers (EventReader, readHeadSeq) on a connection
 * of its own: the worker must not open the store itself (schema work, checkpointer, bus).
 */
import Database from 'better-sqlite3';
import type { RawEventRow } from '../events/store.js';
import { EventReader } from '../events/eventReader.js';
import { readHeadSeq } from '../events/storeSchema.js';
import type { ExportSource } from './eventExport.js';

export class ReadOnlyEventSource implements ExportSource {
  private readonly db: Database.Database;
  private readonly reader: EventReader;

  constructor(dbPath: string) {
    this.db = new Database(dbPath, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.reader = new EventReader(this.db);
  }

  get headSeq(): number {
    return readHeadSeq(this.db);
  }

  get firstSeq(): number {
    return this.reader.firstSeq() ?? this.headSeq + 1;
  }

  readRaw(afterSeq: number, limit: number): RawEventRow[] {
    return this.reader.raw(afterSeq, limit, {});
  }

  close(): void {
    this.db.close();
  }
}
