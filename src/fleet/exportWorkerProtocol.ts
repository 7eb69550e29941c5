/** What the main thread and the export worker (exportWorker.ts) exchange. */
import type { FleetConfig } from './config.js';

export interface ExportWorkerData {
  config: FleetConfig;
  eventsDb: string;
  /** Float64 slots, see STATUS_SLOTS. */
  status: SharedArrayBuffer;
}

/** Slots of the shared status buffer. */
export const STATUS_SLOTS = { exportedSeq: 0, publishedTotal: 1, state: 2, connected: 3 } as const;

export type WorkerMessage = { kind: 'log'; message: string } | { kind: 'error'; error: string | null };

