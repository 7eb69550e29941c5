/**
 * Retention: deleting old events without cutting a job's story in two. See
 * EventStore.applyRetention for what is kept.
 */
import type Database from 'better-sqlite3';
import { ACTIVE_SQL_LIST } from './jobTable.js';

/** One transaction: events older than `cutoff` that no unfinished or recently ended job keeps. */
export function deleteBefore(db: Database.Database, cutoff: number, pruneJobs: boolean): { deleted_events: number; deleted_jobs: number } {
  const endedBeforeCutoff = `status NOT IN (${ACTIVE_SQL_LIST}) AND json_extract(record, '$.ended_at') < @cutoff`;
  return db.transaction(() => {
    const events = db
      .prepare(
        `DELETE FROM events WHERE ts < @cutoff AND (job_id IS NULL OR NOT EXISTS (
           SELECT 1 FROM jobs WHERE jobs.job_id = events.job_id AND NOT (${endedBeforeCutoff})))`,
      )
      .run({ cutoff });
    const jobs = pruneJobs ? db.prepare(`DELETE FROM jobs WHERE ${endedBeforeCutoff}`).run({ cutoff }) : { changes: 0 };
    return { deleted_events: events.changes, deleted_jobs: jobs.changes };
  })();
}
