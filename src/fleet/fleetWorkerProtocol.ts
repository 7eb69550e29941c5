/** What the main thread and the fleet worker (fleetWorker.ts) exchange. */
import type { FleetConfig } from './config.js';
import type { HostReport } from './hostRegistry.js';
import type { FleetJobMessage, SubmitOutcome } from './workQueue.js';
import type { HostRequests, HostService } from './hostServices.js';
import type { FleetQuery } from './fleetView.js';

/** The worker's answer to a query of the dashboard's fleet view (fleetView.ts). */
export type FleetQueryAnswer = { ok: true; result: unknown } | { ok: false; reason: 'nats_unreachable' | 'failed'; error: string };

export interface FleetWorkerData {
  config: FleetConfig;
  eventsDb: string;
  /** MZT_HOME: with the machine id, what tells this conductor's previous run from another. */
  home: string;
  /** Float64 slots, see STATUS_SLOTS. */
  status: SharedArrayBuffer;
}

// Figures both threads use live here, not in the NATS-side modules: the main thread must not
// import those (the NATS client adds ~8 MB to a conductor that has no fleet configured).

export type ExportState = 'connecting' | 'exporting' | 'caught_up' | 'retrying' | 'refused' | 'stopped';

/** The lag's payload bytes are counted over at most this many events (a bounded read per status). */
export const LAG_BYTES_COUNT_LIMIT = 100_000;

/** The NATS side of one fleet-view query; the main thread gives up a little later (index.ts). */
export const QUERY_NATS_MS = 4000;

/** Rendered log bytes in one `mzt fleet logs` answer: a NATS message is at most 1 MiB by default. */
export const FLEET_LOG_ANSWER_BYTES = 512 * 1024;

/**
 * Slots of the shared status buffer: the counters that move with every window. The export's
 * state, connection and error travel together in one 'state' message instead, so the main
 * thread never shows a state without its error (a slot is seen at once, a message later).
 */
export const STATUS_SLOTS = { exportedSeq: 0, publishedTotal: 1, /** written by main: 1 while it has room for a job */ room: 2 } as const;

/** How the export stands, as the main thread shows it. */
export interface ExportView {
  state: ExportState;
  connected: boolean;
  error: string | null;
}

/** Worker → main. */
export type WorkerMessage =
  | { kind: 'log'; message: string }
  | ({ kind: 'state' } & ExportView)
  /** A job pulled from the fleet queue, to record (answered by 'submitted'). */
  | { kind: 'submit'; id: number; job: FleetJobMessage['job'] }
  | { kind: 'rejected'; reason: string; detail: { job_id?: string; subject: string; bytes: number } }
  /** A request for one of this host's jobs from another machine (answered by 'host_answer'). */
  | { [S in HostService]: { kind: 'host_request'; id: number; service: S; request: HostRequests[S]['request'] } }[HostService]
  | { kind: 'query_answer'; id: number; answer: FleetQueryAnswer };

/** Main → worker: the conductor's own figures (sent at start and every REPORT_MS), and stop. */
export type MainMessage =
  | { kind: 'report'; report: HostReport }
  | { kind: 'submitted'; id: number; outcome: SubmitOutcome }
  | { kind: 'host_answer'; id: number; answer: HostRequests[HostService]['answer'] }
  /** The dashboard's fleet view asks (answered by 'query_answer'). */
  | { kind: 'query'; id: number; query: FleetQuery }
  | { kind: 'stop'; drainMs: number };

export const REPORT_MS = 2000;

/** How often the main thread refreshes the room slot. */
export const ROOM_MS = 100;
