/**
 * The fleet worker thread: its own NATS connection and its own read-only view of events.db,
 * so nothing fleet-related takes the conductor's event loop (on the main thread, exporting
 * halved the local stream: BENCHMARKS.md). It joins the fleet under the host name (refusing a
 * name a live conductor holds), keeps the host's KV entry fresh, exports the events, and pulls
 * jobs from the fleet queue while the conductor has room (workQueue.ts) and relays requests
 * from other machines for its jobs' logs and cancels (hostServices.ts). It tells the main thread
 * how far it got through a shared buffer and reports log lines and errors by message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { KV } from '@nats-io/kv';
import { FleetConnection } from './connection.js';
import { EventExporter } from './eventExport.js';
import { ReadOnlyEventSource } from './exportSource.js';
import { HEARTBEAT_MS, HostClashError, HostRegistry, newIdentity, openHostsBucket, type HostEntry, type HostReport } from './hostRegistry.js';
import { WorkPuller, type SubmitOutcome } from './workQueue.js';
import { serveHostRequests, type HostRequests, type HostService } from './hostServices.js';
import { answerQuery } from './fleetViewQuery.js';
import { STATUS_SLOTS, type ExportView, type FleetWorkerData, type MainMessage, type WorkerMessage } from './fleetWorkerProtocol.js';

/** How often the worker looks for new events once it has caught up. */
const HEAD_POLL_MS = 20;

function main(): void {
  const data = workerData as FleetWorkerData;
  const slots = new Float64Array(data.status);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const log = (message: string) => post({ kind: 'log', message });
  const source = new ReadOnlyEventSource(data.eventsDb);
  const connection = new FleetConnection(data.config, log);
  const exporter = new EventExporter({ host: data.config.host, source, connection, log, idlePollMs: HEAD_POLL_MS });
  const identity = newIdentity(data.home);
  const registry = new HostRegistry(data.config.host, identity);
  let report: HostReport | undefined;
  let firstReport!: () => void;
  const reported = new Promise<void>((r) => (firstReport = r));
  let refused: string | undefined;
  let stopping = false;
  let kv: KV | undefined;
  let lastView: ExportView = { state: 'connecting', connected: false, error: null };
  // Jobs pulled from the fleet queue wait here for the main thread to record them.
  let nextSubmit = 1;
  const submits = new Map<number, (outcome: SubmitOutcome) => void>();
  // Requests from other machines (logs, cancel) wait here for the main thread's answer.
  const hostAnswers = new Map<number, (answer: HostRequests[HostService]['answer']) => void>();
  const relay = <S extends HostService>(service: S) => (request: HostRequests[S]['request']) =>
    new Promise<HostRequests[S]['answer']>((resolve) => {
      const id = nextSubmit++;
      hostAnswers.set(id, resolve as (answer: HostRequests[HostService]['answer']) => void);
      post({ kind: 'host_request', id, service, request } as WorkerMessage);
    });
  const puller = new WorkPuller({
    host: data.config.host,
    hasRoom: () => slots[STATUS_SLOTS.room] === 1 && !refused,
    submit: (job) =>
      new Promise<SubmitOutcome>((resolve) => {
        const id = nextSubmit++;
        submits.set(id, resolve);
        post({ kind: 'submit', id, job });
      }),
    rejected: (reason, detail) => post({ kind: 'rejected', reason, detail }),
    log,
  });

  const entry = (): HostEntry => ({
    host: data.config.host,
    ...identity,
    ...report!,
    last_seen: Date.now() / 1000,
    export: { exported_seq: exporter.progress().exported_seq },
  });

  const publishStatus = () => {
    const s = exporter.progress();
    slots[STATUS_SLOTS.exportedSeq] = s.exported_seq;
    slots[STATUS_SLOTS.publishedTotal] = s.published_total;
    const view: ExportView = {
      state: refused ? 'refused' : s.state,
      connected: connection.connected,
      error: refused ?? s.last_error ?? (connection.connected ? null : connection.lastError),
    };
    if (view.state !== lastView.state || view.connected !== lastView.connected || view.error !== lastView.error) post({ kind: 'state', ...view });
    lastView = view;
  };
  const statusTimer = setInterval(publishStatus, 50);

  const refuse = (err: HostClashError) => {
    refused = err.message;
    log(`fleet: ${err.message}; not joining (the conductor keeps serving locally)`);
    void exporter.stop();
    void puller.stop();
  };

  /** Joins under the host name, retrying while NATS cannot be reached; then exports. */
  const join = async () => {
    await reported;
    let retryMs = 250;
    while (!stopping) {
      try {
        const link = await connection.ready();
        kv = await openHostsBucket(link.nc);
        await registry.join(kv, entry());
        exporter.start();
        puller.start(link);
        serveHostRequests(link.nc, data.config.host, 'logs', relay('logs'));
        serveHostRequests(link.nc, data.config.host, 'cancel', relay('cancel'));
        return;
      } catch (err) {
        if (err instanceof HostClashError) return refuse(err);
        if (stopping) return;
        log(`fleet: joining failed: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, 5000);
      }
    }
  };
  const heartbeatTimer = setInterval(() => {
    if (!kv || refused || stopping || !connection.connected) return;
    registry.heartbeat(kv, entry()).catch((err: Error) => {
      if (err instanceof HostClashError) refuse(err);
      else log(`fleet: heartbeat failed: ${err.message}`);
    });
  }, HEARTBEAT_MS);

  connection.start();
  void join();

  parentPort!.on('message', (m: MainMessage) => {
    if (m.kind === 'report') {
      report = m.report;
      firstReport();
      return;
    }
    if (m.kind === 'query') {
      void answerQuery(connection, m.query).then((answer) => post({ kind: 'query_answer', id: m.id, answer }));
      return;
    }
    if (m.kind === 'host_answer') {
      hostAnswers.get(m.id)?.(m.answer);
      hostAnswers.delete(m.id);
      return;
    }
    if (m.kind === 'submitted') {
      submits.get(m.id)?.(m.outcome);
      submits.delete(m.id);
      return;
    }
    if (m.kind !== 'stop' || stopping) return;
    void (async () => {
      const deadline = Date.now() + m.drainMs;
      while (!refused && connection.connected && Date.now() < deadline && exporter.lagEvents > 0) await new Promise((r) => setTimeout(r, 20));
      stopping = true;
      clearInterval(heartbeatTimer);
      // The puller first, while connected: a job being recorded gets its answer and its ack
      // (or goes back to the queue), so nothing is left claimed but unrecorded by a clean stop.
      await Promise.race([puller.stop(), new Promise((r) => setTimeout(r, 5000))]);
      const exporterStopped = exporter.stop();
      if (kv && !refused && connection.connected) await registry.leave(kv);
      await connection.close();
      await exporterStopped;
      publishStatus();
      clearInterval(statusTimer);
      source.close();
      parentPort!.close();
    })();
  });
}

main();
