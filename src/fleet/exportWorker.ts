/**
 * The export worker thread: its own read-only SQLite connection and its own NATS connection,
 * so exporting takes nothing from the conductor's event loop (measured: on the main thread it
 * halved the local stream, BENCHMARKS.md). It tells the main thread how far it got through a
 * shared buffer (read on status requests) and reports log lines and errors by message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FleetConnection } from './connection.js';
import { EventExporter, EXPORT_STATES } from './eventExport.js';
import { ReadOnlyEventSource } from './exportSource.js';
import { STATUS_SLOTS, type ExportWorkerData, type WorkerMessage } from './exportWorkerProtocol.js';

/** How often the worker looks for new events when it has caught up. */
const HEAD_POLL_MS = 20;

function main(): void {
  const data = workerData as ExportWorkerData;
  const slots = new Float64Array(data.status);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const log = (message: string) => post({ kind: 'log', message });
  const source = new ReadOnlyEventSource(data.eventsDb);
  const connection = new FleetConnection(data.config, log);
  let lastError: string | null = null;
  const exporter = new EventExporter({ host: data.config.host, source, connection, log, idlePollMs: HEAD_POLL_MS });
  const publish = () => {
    const s = exporter.progress();
    slots[STATUS_SLOTS.exportedSeq] = s.exported_seq;
    slots[STATUS_SLOTS.publishedTotal] = s.published_total;
    slots[STATUS_SLOTS.state] = EXPORT_STATES.indexOf(s.state);
    slots[STATUS_SLOTS.connected] = connection.connected ? 1 : 0;
    const error = s.last_error ?? (connection.connected ? null : connection.lastError);
    if (error !== lastError) post({ kind: 'error', error });
    lastError = error;
  };
  const timer = setInterval(publish, 50);
  connection.start();
  exporter.start();
  parentPort!.on('message', (m: { kind: 'stop'; drainMs: number }) => {
    if (m.kind !== 'stop') return;
    void (async () => {
      const deadline = Date.now() + m.drainMs;
      while (connection.connected && Date.now() < deadline && exporter.lagEvents > 0) await new Promise((r) => setTimeout(r, 20));
      const stopped = exporter.stop();
      await connection.close();
      await stopped;
      publish();
      clearInterval(timer);
      source.close();
      parentPort!.close();
    })();
  });
}

main();
