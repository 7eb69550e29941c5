/**
 * The fleet side of one conductor (config `fleet`): its NATS connection and the export of its
 * events. Built only when `fleet` is set; the conductor keeps serving locally whatever NATS does.
 */
import type { FleetConfig } from './config.js';
import { FleetConnection } from './connection.js';
import { EventExporter, type ExportSource, type ExportStatus } from './eventExport.js';

export interface FleetStatus {
  host: string;
  nats_url: string;
  connected: boolean;
  export: Omit<ExportStatus, 'host' | 'connected'>;
}

export interface Fleet {
  status(): FleetStatus;
  /** Gives the export up to `drainMs` to reach the log's head, then disconnects. */
  stop(drainMs?: number): Promise<void>;
}

export function startFleet(deps: {
  config: FleetConfig;
  store: ExportSource;
  /** Registers a listener called after each commit; returns the function that removes it. */
  onCommit(listener: () => void): () => void;
  log: (message: string) => void;
}): Fleet {
  const connection = new FleetConnection(deps.config, deps.log);
  const exporter = new EventExporter({ host: deps.config.host, source: deps.store, connection, log: deps.log });
  const stopListening = deps.onCommit(() => exporter.notifyCommitted());
  connection.start();
  exporter.start();
  return {
    status() {
      const { host: _host, connected: _connected, ...exported } = exporter.status();
      return { host: deps.config.host, nats_url: deps.config.nats_url, connected: connection.connected, export: exported };
    },
    async stop(drainMs = 2000) {
      stopListening();
      const deadline = Date.now() + drainMs;
      while (connection.connected && Date.now() < deadline && exporter.lagEvents > 0) {
        await new Promise((r) => setTimeout(r, 50));
      }
      // Closing the connection also releases an exporter still waiting for its first connect.
      const exporterStopped = exporter.stop();
      await connection.close();
      await exporterStopped;
    },
  };
}
