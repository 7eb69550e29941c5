/**
 * Export of this conductor's durable events to the fleet's JetStream stream, exactly once and
 * in seq order, behind the store:
 * - The store is the source of truth; the exporter reads committed events from it a window at
 *   a time (bounded: WINDOW_EVENTS / WINDOW_BYTES in memory) and never holds up a commit: it
 *   runs in the fleet worker and, once caught up, looks for new events every `idlePollMs`.
 * - Each event goes to `mzt.<host>.events.<type>` with message id `<host>:<seq>`, so JetStream
 *   drops a repeat inside its duplicate window.
 * - Where to resume is asked of the stream itself (its last message for this host), after
 *   every start and every failure: no local "exported up to" note can disagree with it.
 * - A window is published pipelined on one connection (NATS keeps the order of one
 *   connection's messages) and only its last event waits for an ack; any failure ends the
 *   window and the next round resumes from what the stream holds, so a later event is never
 *   stored before an earlier one.
 */
import { headers } from '@nats-io/transport-node';
import { encodeValue } from '../shared/msgpack.js';
import type { RawEventRow } from '../events/store.js';
import { ensureStream, type FleetConnection, type FleetLink } from './connection.js';
import type { ExportState } from './fleetWorkerProtocol.js';
import { EVENTS_STREAM, EVENTS_SUBJECTS, eventMessageId, eventSubject, hostEventsFilter, seqOfMessageId } from './subjects.js';

/** What the exporter reads: the event store fits. */
export interface ExportSource {
  readonly headSeq: number;
  readonly firstSeq: number;
  readRaw(afterSeq: number, limit: number): RawEventRow[];
}

export interface ExportProgress {
  state: ExportState;
  /** Last seq of this host the stream is known to hold (0: none). */
  exported_seq: number;
  /** Events published by this run (repeats the stream dropped included). */
  published_total: number;
  last_error: string | null;
}

/** The export as daemon.status shows it: its progress and how far behind the store it is. */
export interface ExportStatus extends ExportProgress {
  lag_events: number;
  /** Payload bytes of the lag, counted over at most LAG_BYTES_COUNT_LIMIT events. */
  lag_bytes: number;
  lag_bytes_capped: boolean;
}

export const WINDOW_EVENTS = 1024;
export const WINDOW_BYTES = 4 * 1024 * 1024;
const IDLE_POLL_MS = 1000;
/**
 * How long a window's last event waits for its ack. Short: a window cut by an outage is
 * resumed from what the stream holds anyway, and a long wait only delays the catch-up.
 */
const PUBLISH_ACK_TIMEOUT_MS = 3000;


/**
 * The stream, as the first conductor creates it. Bounded by age like the local log (30 days;
 * the oldest go first); the duplicate window covers a conductor's restart after a crash.
 */
const EVENTS_STREAM_CONFIG = {
  name: EVENTS_STREAM,
  subjects: [EVENTS_SUBJECTS],
  max_age: 30 * 86400 * 1e9,
  duplicate_window: 120 * 1e9,
};

/** Raised when exporting would break the stream's contract; the exporter stops and says why. */
class RefusedError extends Error {}

export class EventExporter {
  private cursor = 0;
  private state: ExportState = 'connecting';
  private lastError: string | null = null;
  private published = 0;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private streamReady: FleetLink | undefined;

  constructor(
    private readonly options: {
      host: string;
      source: ExportSource;
      connection: FleetConnection;
      log: (message: string) => void;
      /** How often to look for new events once caught up. */
      idlePollMs?: number;
    },
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Ends the idle wait at once (stop). */
  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
    this.state = 'stopped';
  }

  /** Events committed locally and not yet known to be in the stream. */
  get lagEvents(): number {
    return Math.max(0, this.options.source.headSeq - this.cursor);
  }

  progress(): ExportProgress {
    return { state: this.state, exported_seq: this.cursor, published_total: this.published, last_error: this.lastError };
  }

  private async run(): Promise<void> {
    let retryMs = 200;
    while (!this.stopped) {
      try {
        const link = await this.options.connection.ready();
        if (this.stopped) return;
        await this.ensureStream(link);
        this.cursor = await this.resumePoint(link);
        this.lastError = null;
        retryMs = 200;
        await this.pump(link);
      } catch (err) {
        if (this.stopped) return;
        const message = (err as Error).message;
        if (message !== this.lastError) this.options.log(`fleet export: ${message}`);
        this.lastError = message;
        if (err instanceof RefusedError) {
          this.state = 'refused';
          return;
        }
        this.state = 'retrying';
        await this.sleep(retryMs);
        retryMs = Math.min(retryMs * 2, 2000);
      }
    }
  }

  /** The stream is created by the first conductor that exports; the others find it. */
  private async ensureStream(link: FleetLink): Promise<void> {
    if (this.streamReady === link) return;
    await ensureStream(link.jsm, EVENTS_STREAM_CONFIG);
    this.streamReady = link;
  }

  /** The last seq of this host the stream holds, checked against the local log. */
  private async resumePoint(link: FleetLink): Promise<number> {
    const { host, source } = this.options;
    const last = await link.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: hostEventsFilter(host) });
    const held = last ? seqOfMessageId(last.header?.get('Nats-Msg-Id'), host) ?? NaN : 0;
    if (!Number.isSafeInteger(held) || held < 0) throw new RefusedError(`the stream's last message for host ${host} carries no seq this conductor wrote`);
    if (held > source.headSeq) {
      throw new RefusedError(
        `the stream already holds seq ${held} for host "${host}" but this conductor's log ends at ${source.headSeq}: ` +
          'another event store uses this host name (set a unique fleet.host); export stopped',
      );
    }
    const first = source.firstSeq;
    if (held < first - 1) {
      this.options.log(`fleet export: events ${held + 1} to ${first - 1} were deleted by retention before they were exported; resuming at ${first}`);
      return first - 1;
    }
    return held;
  }

  private async pump(link: FleetLink): Promise<void> {
    const { source } = this.options;
    while (!this.stopped) {
      let rows = source.readRaw(this.cursor, WINDOW_EVENTS);
      if (rows.length === 0) {
        this.state = 'caught_up';
        await this.sleep(this.options.idlePollMs ?? IDLE_POLL_MS);
        continue;
      }
      this.state = 'exporting';
      let bytes = 0;
      const fit = rows.findIndex((row) => (bytes += row.bytes.length) > WINDOW_BYTES);
      if (fit > 0) rows = rows.slice(0, fit);
      else if (fit === 0) rows = rows.slice(0, 1);
      await this.publishWindow(link, rows);
      this.cursor = rows[rows.length - 1]!.seq;
    }
  }

  /**
   * One window: every event but the last as a plain NATS publish (no reply, no timer), the
   * last one acknowledged by JetStream. The server handles one connection's messages in order,
   * so the last one's ack means all before it were handled; a stream of ours has no
   * per-message limit that could refuse one of them and take a later one.
   */
  private async publishWindow({ js, nc }: FleetLink, rows: RawEventRow[]): Promise<void> {
    const { host } = this.options;
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const last = rows.length - 1;
    for (let i = 0; i < last; i++) {
      const row = rows[i]!;
      const h = headers();
      h.set('Nats-Msg-Id', eventMessageId(host, row.seq));
      nc.publish(eventSubject(host, row.type), this.payloadOf(row, maxPayload), { headers: h });
    }
    const row = rows[last]!;
    try {
      await js.publish(eventSubject(host, row.type), this.payloadOf(row, maxPayload), { msgID: eventMessageId(host, row.seq), timeout: PUBLISH_ACK_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`publishing events ${rows[0]!.seq} to ${row.seq} failed: ${(err as Error).message}; resuming from what the stream holds`);
    }
    this.published += rows.length;
  }

  /** The stored bytes as they are; an event larger than the server takes is replaced by a stub, so its seq is not a gap. */
  private payloadOf(row: RawEventRow, maxPayload: number): Uint8Array {
    const room = maxPayload - 1024; // headers
    if (row.bytes.length <= room) return row.bytes;
    this.options.log(`fleet export: event ${row.seq} (${row.type}, ${row.bytes.length} bytes) is larger than the server's max_payload; exported as a stub`);
    return encodeValue({ seq: row.seq, type: row.type, job_id: row.job_id ?? undefined, data: { export_truncated: true, bytes: row.bytes.length } });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
