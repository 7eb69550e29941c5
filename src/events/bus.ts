/**
 * The in-process event bus. The store publishes each event right after its commit,
 * synchronously and in seq order; ephemeral events (snapshots) are published directly.
 *
 * Handlers registered with `subscribe` are isolated: one that throws is logged and removed,
 * and never stops delivery to the others (Marianne's bus let one subscriber break all).
 *
 * Delivery is synchronous and every handler sees the same order: an event published from
 * inside a handler is queued and delivered once the current event has reached every handler
 * (plain RxJS would deliver it first to everyone, then resume the outer event). `events$`
 * offers the same stream as an RxJS Observable for operator pipelines.
 */
import { Subject, type Observable } from 'rxjs';
import { encodeValue } from '../shared/msgpack.js';
import { buildEnvelope } from './envelope.js';
import { nowSeconds, type EncodedEvent, type EphemeralEvent, type StoredEvent } from './types.js';

export type BusEvent = StoredEvent | EphemeralEvent;
export type BusHandler = (event: BusEvent) => void;

export interface EventBusOptions {
  /** Where a failing handler is reported. Defaults to stderr. */
  log?: (message: string) => void;
  /** Most events published from inside handlers and waiting for delivery. */
  maxReentrantQueue?: number;
}

export class EventBus {
  // Handlers are called straight from an array (copied when one is added or removed, so a
  // handler may unsubscribe during delivery): a Subject's next() allocates iterators and
  // result objects per observer per event, which a million-event burst felt as GC work.
  private handlers: Array<{ handler: BusHandler }> = [];
  // Made only when someone asks for events$ (operator pipelines).
  private subject: Subject<BusEvent> | undefined;
  private readonly log: (message: string) => void;
  private readonly maxReentrantQueue: number;
  private readonly reentrant: BusEvent[] = [];
  private delivering = false;

  constructor(options: EventBusOptions = {}) {
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    this.maxReentrantQueue = options.maxReentrantQueue ?? 10_000;
  }

  /**
   * Every published event, for operator pipelines. Observers here are NOT isolated (RxJS
   * reports their errors as unhandled); code that may throw should use `subscribe`. They see
   * each event after the handlers registered with `subscribe`.
   */
  get events$(): Observable<BusEvent> {
    this.subject ??= new Subject<BusEvent>();
    return this.subject.asObservable();
  }

  get subscriberCount(): number {
    return this.handlers.length + (this.subject?.observers.length ?? 0);
  }

  publish(event: BusEvent): void {
    if (this.delivering) {
      if (this.reentrant.length >= this.maxReentrantQueue) {
        throw new Error(`event bus: more than ${this.maxReentrantQueue} events published from inside handlers`);
      }
      this.reentrant.push(event);
      return;
    }
    this.delivering = true;
    try {
      this.deliver(event);
      for (let next = this.reentrant.shift(); next !== undefined; next = this.reentrant.shift()) this.deliver(next);
    } finally {
      this.delivering = false;
    }
  }

  /** Register a handler; returns the function that removes it. */
  subscribe(handler: BusHandler): () => void {
    // One entry per registration, so the same function registered twice is removed once.
    const entry = { handler };
    this.handlers = [...this.handlers, entry];
    return () => this.remove(entry);
  }

  private deliver(event: BusEvent): void {
    const handlers = this.handlers;
    for (let i = 0; i < handlers.length; i++) {
      const entry = handlers[i]!;
      try {
        entry.handler(event);
      } catch (err) {
        this.remove(entry);
        const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
        try {
          this.log(`event bus: a handler threw on ${event.event.type} and was removed: ${detail}`);
        } catch {
          /* a broken logger must not break delivery either */
        }
      }
    }
    if (this.subject?.observed) this.subject.next(event);
  }

  private remove(entry: { handler: BusHandler }): void {
    const at = this.handlers.indexOf(entry);
    if (at >= 0) this.handlers = [...this.handlers.slice(0, at), ...this.handlers.slice(at + 1)];
  }
}

/** Build the envelope of an ephemeral event (no seq, never stored) and encode it once. */
export function encodeEphemeral(
  type: string,
  data: Record<string, unknown>,
  extra: { job_id?: string; sheet_num?: number; ts?: number } = {},
): EncodedEvent {
  if (typeof type !== 'string' || type.length === 0) throw new TypeError('ephemeral event: type must be a non-empty string');
  const event = buildEnvelope(undefined, extra.ts ?? nowSeconds(), type, extra.job_id, extra.sheet_num, data);
  return { event, bytes: encodeValue(event) };
}
