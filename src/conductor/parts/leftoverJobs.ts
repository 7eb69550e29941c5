/**
 * Jobs that were active when a previous conductor died are closed explicitly
 * (`job.interrupted`) — or, with live_restore, re-adopted when their sheets ran on under
 * waiters (actors/liveRestore/). Their process groups, and what escaped them (found by the
 * previous run's marker), are stopped; the SIGKILLs still due are sent by `finish` at stop.
 */
import { LiveHost, forgetLiveState, type RestorePlan } from '../../actors/liveRestore/liveHost.js';
import type { EventStore } from '../../events/store.js';
import type { LogFn } from '../../log/logger.js';
import type { ConductorPaths } from '../../shared/paths.js';
import type { ConductorConfig } from '../config.js';
import { stopEscapedOrphans, takeMarkerInstance } from '../escapedOrphans.js';
import { stopOrphans } from '../orphans.js';

export interface LeftoverJobs {
  /** Jobs closed as interrupted (the re-adopted ones not counted). */
  closed: number;
  /** Re-adopted by the job manager once it runs. */
  restorePlans: RestorePlan[];
  live: LiveHost | undefined;
  /** This run's process marker (escaped processes are found by it after a crash). */
  markerInstance: string;
  /** Sends the SIGKILLs still due to the stopped groups and escaped processes. */
  finish(): Promise<void>;
}

export function closeLeftoverJobs(deps: { store: EventStore; paths: ConductorPaths; config: ConductorConfig; log: LogFn }): LeftoverJobs {
  const { store, paths, config, log } = deps;
  let orphans = store.activeJobs();
  const live = config.live_restore ? new LiveHost(paths.jobsDir) : undefined;
  const restorePlans = live ? live.planRestore(orphans, log) : undefined;
  if (restorePlans) orphans = restorePlans.rest;
  const orphanStops = stopOrphans({
    jobs: orphans,
    graceSeconds: config.kill_grace_seconds,
    log,
    record: (e) => store.appendSync(e),
    readNote: (key) => store.readNote(key),
    writeNote: (key, value) => store.writeNote(key, value),
  });
  const markers = takeMarkerInstance(store);
  const escapedStops = stopEscapedOrphans({
    previous: markers.previous,
    jobIds: new Set(orphans.map((j) => j.job_id)),
    groups: new Set(orphans.flatMap((j) => j.sheets.map((sh) => sh.pid ?? 0)).filter((pid) => pid > 1)),
    graceSeconds: config.kill_grace_seconds,
    log,
    record: (e) => store.appendSync(e),
  });
  for (const job of orphans) {
    forgetLiveState(paths.jobsDir, job.job_id); // a job that had live_restore state is not re-adopted now
    store.appendSync({
      type: 'job.interrupted',
      job_id: job.job_id,
      data: { reason: 'conductor_restarted', previous_status: job.status },
    });
  }
  if (orphans.length > 0) log(`closed ${orphans.length} job(s) left active by a previous conductor`);
  return {
    closed: orphans.length,
    restorePlans: restorePlans?.plans ?? [],
    live,
    markerInstance: markers.current,
    finish: async () => {
      await Promise.all([orphanStops.finish(), escapedStops.finish()]);
    },
  };
}
