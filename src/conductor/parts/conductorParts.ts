/**
 * The parts of a running conductor, in one object that main.ts fills in start-up order.
 * Parts started later or replaced by a config reload (monitoring, dashboard, fleet, server)
 * are read from here when used, never captured, so every user sees the current one.
 */
import type { EventBus } from '../../events/bus.js';
import type { EventStore } from '../../events/store.js';
import type { JobManager } from '../../actors/jobManager.js';
import type { IpcServer } from '../../ipc/server.js';
import type { DashboardServer } from '../../dashboard/server.js';
import type { Fleet } from '../../fleet/index.js';
import type { LogFn } from '../../log/logger.js';
import type { ConductorPaths } from '../../shared/paths.js';
import type { ConductorConfig } from '../config.js';
import type { HeapRelease } from '../heapRelease.js';
import type { JobTracer } from '../jobTrace.js';
import type { Monitoring } from '../monitoring.js';
import type { LeftoverJobs } from './leftoverJobs.js';

/** What exists once the event store is open: enough to start the jobs. */
export interface ConductorParts {
  readonly paths: ConductorPaths;
  /** Seconds since the epoch. */
  readonly startedAt: number;
  readonly log: LogFn;
  readonly bus: EventBus;
  readonly store: EventStore;
  /** The running config; a reload replaces it. */
  config: ConductorConfig;
  monitoring?: Monitoring;
  dashboard?: DashboardServer;
  fleet?: Fleet;
  server?: IpcServer;
  heapRelease?: HeapRelease;
  retentionTimer?: NodeJS.Timeout;
  shuttingDown: boolean;
  /** Keys (RESTART_KEYS) whose value in config.json differs from the one in force until the next start. */
  pendingRestart?: string[];
  /** Reloads run one after the other (a dashboard restart takes a moment); stop waits for them. */
  reloads: Promise<void>;
}

/** With the jobs started: every part the methods, reloads and shutdown reach. */
export interface RunningConductor extends ConductorParts {
  readonly jobs: JobManager;
  readonly tracer: JobTracer;
  readonly leftovers: LeftoverJobs;
}
