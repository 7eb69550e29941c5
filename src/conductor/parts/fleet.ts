/**
 * The fleet part, when config `fleet` is set: exports this conductor's events to NATS, takes
 * work from the fleet's queue while there is room, and serves job logs and cancels to other hosts.
 */
import { startFleet, type Fleet } from '../../fleet/index.js';
import type { ConductorConfig } from '../config.js';
import { buildHostReport, fleetJobCancel, fleetJobLogs, hasRoomForFleetJob, submitFleetJob } from '../fleetBridge.js';
import type { ConductorParts, RunningConductor } from './conductorParts.js';

export function startFleetFor(c: RunningConductor, config: ConductorConfig): Fleet | undefined {
  const { store, jobs, paths, log } = c;
  return config.fleet
    ? startFleet({
        config: config.fleet,
        eventsDb: paths.eventsDb,
        home: paths.home,
        store,
        // The running config and monitoring at each call: a reload may have replaced them.
        report: () => buildHostReport({ startedAt: c.startedAt, config: c.config, jobs, store, monitoring: c.monitoring }),
        hasRoom: () => !c.shuttingDown && hasRoomForFleetJob({ config: c.config, jobs, monitoring: c.monitoring }),
        submit: (job) => submitFleetJob(jobs, job),
        logs: (request) => fleetJobLogs(store, paths, request),
        cancel: (request) => fleetJobCancel(jobs, store, request),
        rejected: (reason, detail) => {
          log(`fleet: a message on the work queue was refused: ${reason}`, 'warn');
          // The job id stays in data: the envelope's job_id would make it a job of this conductor.
          void store.append({ type: 'fleet.job_rejected', data: { reason, ...detail } }).catch(() => undefined);
        },
        log,
      })
    : undefined;
}

/** Stops the fleet part, logging (not throwing) a failure. */
export async function stopFleet(c: ConductorParts): Promise<void> {
  await c.fleet?.stop().catch((err: Error) => c.log(`fleet stop failed: ${err.message}`, 'warn'));
}
