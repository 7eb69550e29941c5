/** What the main thread and the fleet worker (fleetWorker.ts) exchange. */
import type { FleetConfig } from './config.js';
import type { HostReport } from './hostRegistry.js';

export interface FleetWorkerData {
  config: FleetConfig;
  eventsDb: string;
  /** MZT_HOME: with the machine id, what tells this conductor's previous run from another. */
  home: string;
  /** Float64 slots, see STATUS_SLOTS. */
  status: SharedArrayBuffer;
}

/** Slots of the shared status buffer. */
export const STATUS_SLOTS = { exportedSeq: 0, publishedTotal: 1, state: 2, connected: 3 } as const;

/** Worker → main. */
export type WorkerMessage = { kind: 'log'; message: string } | { kind: 'error'; error: string | null };

/** Main → worker: the conductor's own figures (sent at start and every REPORT_MS), and stop. */
export type MainMessage = { kind: 'report'; report: HostReport } | { kind: 'stop'; drainMs: number };

export const REPORT_MS = 2000;
