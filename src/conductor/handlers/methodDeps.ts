/**
 * What the socket methods reach in the running conductor, and the refusals several of them
 * share. Parts that start later or can be replaced (monitoring, dashboard, fleet) are
 * getters, read at each call.
 */
import { ErrorCode, ProtocolError } from '../../ipc/messages.js';
import type { ServerLimits } from '../../ipc/server.js';
import type { EventStore } from '../../events/store.js';
import type { JobManager } from '../../actors/jobManager.js';
import type { Fleet } from '../../fleet/index.js';
import type { ConductorPaths } from '../../shared/paths.js';
import type { LogFn } from '../../log/logger.js';
import type { ConductorConfig } from '../config.js';
import type { JobTracer } from '../jobTrace.js';
import type { Monitoring } from '../monitoring.js';

export interface MethodDeps {
  version: string;
  startedAt: number;
  paths: ConductorPaths;
  store: EventStore;
  jobs: JobManager;
  limits: ServerLimits;
  config(): ConductorConfig;
  /** Config keys changed in the file that take effect only at the next start (daemon.config shows them). */
  pendingRestart?(): string[];
  serverStats(): { connections: number; subscriptions: number };
  shuttingDown(): boolean;
  requestShutdown(reason: string): void;
  monitoring(): Monitoring | undefined;
  /** Runs `job.trace` (strace of a sheet's tree); absent: the method answers NOT_AVAILABLE. */
  tracer?: JobTracer;
  /** The address of the dashboard this conductor serves, if any. */
  dashboardUrl?(): string | null;
  /** The fleet part, when config `fleet` is set (daemon.status shows its export lag). */
  fleet?(): Fleet | undefined;
  /** Expose `debug.emit` (tests and benchmarks only; MZT_DEBUG_METHODS=1). */
  debugMethods: boolean;
  /** The conductor's log, with levels (job.clear reports its failures as warnings). */
  log?: LogFn;
}

export function notFound(jobId: string): ProtocolError {
  return new ProtocolError(ErrorCode.JOB_NOT_FOUND, `no job with id "${jobId}"`, { job_id: jobId });
}

/** Methods that would start something refuse once the conductor is stopping. */
export function refuseWhileStopping(deps: MethodDeps): void {
  if (deps.shuttingDown()) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the conductor is shutting down');
}

/** Seconds since start, to a tenth. */
export function uptimeSeconds(deps: MethodDeps): number {
  return Math.round((Date.now() / 1000 - deps.startedAt) * 10) / 10;
}
