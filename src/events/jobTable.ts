/**
 * The `jobs` table: the projection (projection.ts) of the log kept beside it, one row per job,
 * written in the same transaction as the events that change it.
 */
import type Database from 'better-sqlite3';
import { decodeValue } from '../shared/msgpack.js';
import { ACTIVE_JOB_STATUSES, TERMINAL_JOB_STATUSES, type JobRecord, type JobStatus } from './jobRecord.js';
import { applyJobEvent } from './projection.js';
import type { DurableEvent } from './types.js';

/** The active statuses as an SQL list, for queries that keep or skip unfinished jobs. */
export const ACTIVE_SQL_LIST = ACTIVE_JOB_STATUSES.map((s) => `'${s}'`).join(', ');

export class JobTable {
  private readonly upsertJob: Database.Statement;
  private readonly selectJob: Database.Statement;
  private readonly deleteJob: Database.Statement;
  private readonly selectActive: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.upsertJob = db.prepare(
      'INSERT INTO jobs (job_id, status, submitted_at, record) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT(job_id) DO UPDATE SET status = excluded.status, record = excluded.record',
    );
    this.selectJob = db.prepare('SELECT record FROM jobs WHERE job_id = ?').pluck();
    this.deleteJob = db.prepare('DELETE FROM jobs WHERE job_id = ?');
    this.selectActive = db.prepare(`SELECT record FROM jobs WHERE status IN (${ACTIVE_SQL_LIST}) ORDER BY submitted_at, rowid`).pluck();
  }

  get(jobId: string): JobRecord | undefined {
    const json = this.selectJob.get(jobId) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as JobRecord);
  }

  /** Store a job's new record; undefined deletes it (job.cleared). Called inside a commit. */
  put(jobId: string, record: JobRecord | undefined): void {
    if (record) this.upsertJob.run(record.job_id, record.status, record.submitted_at, JSON.stringify(record));
    else this.deleteJob.run(jobId);
  }

  /** Jobs newest submitted first, and how many match in all. */
  list(options: { statuses?: readonly JobStatus[]; limit: number }): { jobs: JobRecord[]; total: number } {
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

  /** Jobs not yet ended (ACTIVE_JOB_STATUSES), oldest first. */
  active(): JobRecord[] {
    return (this.selectActive.all() as string[]).map((r) => JSON.parse(r) as JobRecord);
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

  /** The projection computed from scratch from the stored log; the table is not touched. */
  rebuild(): Map<string, JobRecord> {
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
}
