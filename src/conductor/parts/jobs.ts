/**
 * The job manager: runs submitted jobs as child processes, re-adopts what live_restore
 * planned, and asks the monitoring (started later) whether there is room for more work.
 */
import { JobManager, type JobManagerConfig } from '../../actors/jobManager.js';
import type { ConductorConfig } from '../config.js';
import type { ConductorParts } from './conductorParts.js';
import type { LeftoverJobs } from './leftoverJobs.js';

/** The config keys the job manager runs by (at start and after each reload). */
export function jobLimits(config: ConductorConfig): JobManagerConfig {
  return {
    max_concurrent_jobs: config.max_concurrent_jobs,
    kill_grace_seconds: config.kill_grace_seconds,
    default_sheet_timeout_seconds: config.default_sheet_timeout_seconds,
    max_log_bytes_per_job: config.max_log_bytes_per_job,
  };
}

export function startJobs(c: ConductorParts, leftovers: LeftoverJobs): JobManager {
  const { store, log } = c;
  const jobs = new JobManager({
    append: (e) => store.append(e),
    acceptingWork: () => c.monitoring?.monitor.acceptingWork() ?? { accepting: true },
    jobsDir: c.paths.jobsDir,
    // A cleared job's id stays taken while its events are in the log (see clearJobs.ts).
    jobExists: (id) => store.getJob(id) !== undefined || store.read(0, 1, { job_id: id }).length > 0,
    config: jobLimits(c.config),
    log,
    knownProcesses: (tag) => c.monitoring?.knownProcesses(tag) ?? [],
    markerInstance: leftovers.markerInstance,
    live: leftovers.live,
  });
  for (const plan of leftovers.restorePlans) jobs.adopt(plan);
  if (leftovers.restorePlans.length) log(`live_restore: re-adopted ${leftovers.restorePlans.length} job(s) a previous conductor left running`);
  leftovers.live?.startHeartbeat();
  return jobs;
}
