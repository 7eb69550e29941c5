/** The conductor's entry in the fleet's host table (fleet/hostRegistry.ts), built from its parts. */
import type { JobManager } from '../actors/jobManager.js';
import type { EventStore } from '../events/store.js';
import type { HostReport } from '../fleet/hostRegistry.js';
import type { ConductorConfig } from './config.js';
import type { Monitoring } from './monitoring.js';
import { VERSION } from './version.js';

/** Jobs listed per host: enough for `mzt fleet jobs`, small enough for a KV entry. */
export const FLEET_REPORT_JOBS = 50;

export function buildHostReport(deps: {
  startedAt: number;
  config: ConductorConfig;
  jobs: JobManager;
  store: EventStore;
  monitoring: Monitoring | undefined;
}): HostReport {
  const monitor = deps.monitoring?.monitor.status();
  return {
    version: VERSION,
    started_at: deps.startedAt,
    max_concurrent_jobs: deps.config.max_concurrent_jobs,
    running_jobs: deps.jobs.runningCount,
    queued_jobs: deps.jobs.queuedCount,
    paused_jobs: deps.jobs.pausedCount,
    accepting_work: monitor?.accepting_work ?? true,
    pressure_level: monitor?.pressure_level ?? 'none',
    jobs: deps.store.listJobs({ limit: FLEET_REPORT_JOBS }).jobs.map((j) => ({
      job_id: j.job_id,
      name: j.name,
      status: j.status,
      submitted_at: j.submitted_at,
      ended_at: j.ended_at ?? null,
    })),
  };
}
