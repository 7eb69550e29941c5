/**
 * The event envelope: the one shape every event has, on disk and on the wire.
 * Field names follow Marianne's ObserverEvent so NDJSON output keeps its shape.
 */
export interface EventEnvelope {
  /** Gap-free, increasing position in the durable log. Absent on ephemeral events (snapshots). */
  seq?: number;
  /** Wall-clock time of the event, Unix epoch seconds with millisecond precision. */
  ts: number;
  /** Dotted event type, e.g. `job.started`, `sheet.completed`, `monitor.snapshot`. */
  type: string;
  job_id?: string;
  sheet_num?: number;
  data: Record<string, unknown>;
}

/** A durable event as committed: seq is always present. */
export interface DurableEvent extends EventEnvelope {
  seq: number;
}

/** What a producer hands to the store: everything but seq (and ts, which defaults to now). */
export interface NewEvent {
  type: string;
  job_id?: string;
  sheet_num?: number;
  data?: Record<string, unknown>;
  ts?: number;
}

/**
 * An event together with its MessagePack encoding. Events are encoded once, when they
 * are committed (or published, for ephemeral ones), and those bytes are stored and sent as
 * they are to every subscriber.
 */
export interface EncodedEvent {
  event: EventEnvelope;
  bytes: Buffer;
}

/** A committed event and the bytes stored for it: what the store publishes on the bus. */
export interface StoredEvent extends EncodedEvent {
  event: DurableEvent;
}

/** An event that is published but never stored (snapshots): no seq. */
export type EphemeralEvent = EncodedEvent;

/** Filters shared by `events.read` and `daemon.monitor.stream`. */
export interface EventFilter {
  job_id?: string;
  /** Event type prefixes; an event matches if its type starts with any of them. Empty = all. */
  types?: string[];
}

export function matchesFilter(
  event: { type: string; job_id?: string },
  filter: EventFilter,
): boolean {
  if (filter.job_id !== undefined && event.job_id !== filter.job_id) return false;
  const types = filter.types;
  if (types && types.length > 0) {
    for (const prefix of types) if (event.type.startsWith(prefix)) return true;
    return false;
  }
  return true;
}

export function nowSeconds(): number {
  return Math.round(Date.now()) / 1000;
}
