/**
 * The fleet side of one conductor (config `fleet`): its entry in the fleet's host table and
 * the export of its events, run by a worker thread (fleetWorker.ts) with its own NATS
 * connection and its own read-only view of events.db. Built only when `fleet` is set; the
 * conductor serves locally whatever NATS does.
 */
import { Worker } from 'node:worker_threads';
import { packageUrl } from '../shared/packageFiles.js';
import type { FleetConfig } from './config.js';
import type { ExportStatus } from './eventExport.js';
import type { HostReport } from './hostRegistry.js';
import type { FleetJobMessage, SubmitOutcome } from './workQueue.js';
import { badRequest, type FleetCancelAnswer, type FleetCancelRequest, type FleetLogAnswer, type FleetLogRequest, type HostRequests, type HostService } from './hostServices.js';
import { LAG_BYTES_COUNT_LIMIT, QUERY_NATS_MS, REPORT_MS, ROOM_MS, STATUS_SLOTS, type ExportView, type FleetQueryAnswer, type FleetWorkerData, type MainMessage, type WorkerMessage } from './fleetWorkerProtocol.js';
import type { FleetQuery } from './fleetView.js';

/** Fleet-view queries waiting for the worker at once; more are refused (each dashboard tab polls). */
const MAX_QUERIES_IN_FLIGHT = 32;

export interface FleetStatus {
  host: string;
  nats_url: string;
  connected: boolean;
  export: ExportStatus;
}

export interface Fleet {
  status(): FleetStatus;
  /** Asks the worker to read the fleet for the dashboard (fleetView.ts); never rejects. */
  query(query: FleetQuery): Promise<FleetQueryAnswer>;
  /** Gives the export up to `drainMs` to reach the log's head, then disconnects. */
  stop(drainMs?: number): Promise<void>;
}

/** What the main thread reads of the store for the lag (the event store fits). */
export interface LocalLog {
  readonly headSeq: number;
  payloadBytesAfter(afterSeq: number, maxEvents: number): { bytes: number; events: number };
}

export function startFleet(deps: {
  config: FleetConfig;
  eventsDb: string;
  home: string;
  store: LocalLog;
  /** The conductor's figures for its entry in the fleet's host table. */
  report(): HostReport;
  /** Whether it has room for one more job now (a free slot, and the monitor accepts work). */
  hasRoom(): boolean;
  /** Records a job pulled from the fleet queue. */
  submit(job: FleetJobMessage['job']): Promise<SubmitOutcome>;
  /** A job's log, for `mzt fleet logs`. */
  logs(request: FleetLogRequest): FleetLogAnswer;
  /** Cancels a job, for `mzt fleet cancel`; resolves once it has ended (or could not be cancelled). */
  cancel(request: FleetCancelRequest): Promise<FleetCancelAnswer>;
  /** A message on the queue that is no job. */
  rejected(reason: string, detail: { job_id?: string; subject: string; bytes: number }): void;
  log: (message: string) => void;
}): Fleet {
  const status = new SharedArrayBuffer(8 * Object.keys(STATUS_SLOTS).length);
  const slots = new Float64Array(status);
  const data: FleetWorkerData = { config: deps.config, eventsDb: deps.eventsDb, home: deps.home, status };
  const worker = new Worker(packageUrl('dist/fleet/fleetWorker.js'), { workerData: data });
  const send = (m: MainMessage) => worker.postMessage(m);
  const sendReport = () => {
    try {
      send({ kind: 'report', report: deps.report() });
    } catch (err) {
      deps.log(`fleet: could not build the host report: ${(err as Error).message}`);
    }
  };
  sendReport();
  const reportTimer = setInterval(sendReport, REPORT_MS);
  reportTimer.unref();
  // Room is looked at before every pull: kept fresh here, cheaply (two counters).
  const writeRoom = () => (slots[STATUS_SLOTS.room] = deps.hasRoom() ? 1 : 0);
  writeRoom();
  const roomTimer = setInterval(writeRoom, ROOM_MS);
  roomTimer.unref();
  let view: ExportView = { state: 'connecting', connected: false, error: null };
  let workerError: string | undefined;
  let exited = false;
  let nextQuery = 1;
  const queries = new Map<number, (answer: FleetQueryAnswer) => void>();
  const exit = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      exited = true;
      for (const answer of queries.values()) answer({ ok: false, reason: 'failed', error: 'the fleet worker has stopped' });
      queries.clear();
      if (code !== 0) deps.log(`fleet: the export worker exited with code ${code}`);
      resolve();
    }),
  );
  worker.on('message', (m: WorkerMessage) => {
    if (m.kind === 'log') deps.log(m.message);
    else if (m.kind === 'query_answer') {
      queries.get(m.id)?.(m.answer);
      queries.delete(m.id);
    }
    else if (m.kind === 'state') view = { state: m.state, connected: m.connected, error: m.error };
    else if (m.kind === 'rejected') deps.rejected(m.reason, m.detail);
    else if (m.kind === 'host_request') {
      const asked = async (): Promise<HostRequests[HostService]['answer']> => (m.service === 'logs' ? deps.logs(m.request) : deps.cancel(m.request));
      void asked()
        .catch((err: Error) => badRequest(m.request?.job_id, err.message))
        .then((answer) => {
          if (!exited) send({ kind: 'host_answer', id: m.id, answer });
        });
    }
    else if (m.kind === 'submit') {
      void deps
        .submit(m.job)
        .catch((err: Error): SubmitOutcome => ({ kind: 'retry', reason: err.message }))
        .then((outcome) => {
          writeRoom();
          if (!exited) send({ kind: 'submitted', id: m.id, outcome });
        });
    }
  });
  worker.on('error', (err) => {
    workerError = `export worker failed: ${err.message}`;
    deps.log(`fleet: ${workerError}`);
  });
  return {
    status() {
      const exported = slots[STATUS_SLOTS.exportedSeq]!;
      const lag = Math.max(0, deps.store.headSeq - exported);
      const bytes = lag > 0 ? deps.store.payloadBytesAfter(exported, LAG_BYTES_COUNT_LIMIT).bytes : 0;
      return {
        host: deps.config.host,
        nats_url: deps.config.nats_url,
        connected: !exited && view.connected,
        export: {
          state: exited ? 'stopped' : view.state,
          exported_seq: exported,
          lag_events: lag,
          lag_bytes: bytes,
          lag_bytes_capped: lag > LAG_BYTES_COUNT_LIMIT,
          published_total: slots[STATUS_SLOTS.publishedTotal]!,
          last_error: workerError ?? view.error,
        },
      };
    },
    query(query) {
      if (exited) return Promise.resolve({ ok: false, reason: 'failed', error: 'the fleet worker has stopped' });
      if (queries.size >= MAX_QUERIES_IN_FLIGHT) {
        return Promise.resolve({ ok: false, reason: 'failed', error: `too many fleet queries in flight (limit ${MAX_QUERIES_IN_FLIGHT}); try again shortly` });
      }
      const id = nextQuery++;
      return new Promise<FleetQueryAnswer>((resolve) => {
        // The worker answers within QUERY_NATS_MS; this guards against a worker that is stuck.
        const timer = setTimeout(() => {
          queries.delete(id);
          resolve({ ok: false, reason: 'failed', error: `the fleet worker did not answer within ${QUERY_NATS_MS + 1000} ms` });
        }, QUERY_NATS_MS + 1000);
        queries.set(id, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        send({ kind: 'query', id, query });
      });
    },
    async stop(drainMs = 2000) {
      clearInterval(reportTimer);
      clearInterval(roomTimer);
      if (exited) return;
      send({ kind: 'stop', drainMs });
      const timer = setTimeout(() => void worker.terminate(), drainMs + 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}
