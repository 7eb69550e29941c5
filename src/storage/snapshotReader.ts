/**
 * Read-only access to monitor.db for processes other than the conductor (the dashboard when
 * the conductor is down). Opens the file read-only and never creates or migrates it.
 */
import Database from 'better-sqlite3';
import type { SystemSnapshot } from '../monitor/snapshot.js';

export class SnapshotReader {
  private readonly db: Database.Database;
  private readonly latestStmt: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.latestStmt = this.db.prepare('SELECT body FROM snapshots ORDER BY ts DESC LIMIT 1').pluck();
  }

  latest(): SystemSnapshot | undefined {
    const body = this.latestStmt.get() as string | undefined;
    return body ? (JSON.parse(body) as SystemSnapshot) : undefined;
  }

  close(): void {
    this.db.close();
  }
}
