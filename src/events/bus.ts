/**
 * The in-process event bus: an RxJS Subject. The store publishes each event right after its
 * commit, synchronously and in seq order; ephemeral events (snapshots) are published directly.
 *
 * Everything attached here is isolated: a handler (or its pipeline) that throws is logged and
 * removed, and never stops delivery to the others (Marianne's bus let one subscriber break
 * all; a bare Subject reports an observer's error as unhandled, which would end the process).
 *
 * Delivery is synchronous and every observer sees the same order: an event published from
 * inside a handler is queued and delivered once the current event has reached every observer
 * (a bare Subject would deliver it first to everyone, then resume the outer event).
 *
 * Consumers with many targets attach as one observer and fan out themselves (the socket
 * server, one observer for all its connections), so the bus has a handful of observers.
 */
import { Subject, type Observable, type Observer, type OperatorFunction, type Subscription } from '../shared/rx.js';
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

/**
 * A Subject whose next() allocates nothing. Node loads RxJS 7's ES5 build, where Subject.next
 * makes a closure, an iterator and a result object per observer for every event: with one
 * handler the bus took 0.23-0.61 µs and ~60 young-generation GCs per million events, against
 * 0.03-0.06 µs and none here (BENCHMARKS.md, "RxJS bus"). Same semantics: it delivers to a copy
 * of the observer list taken after the last change; one detached meanwhile is skipped by its
 * own Subscriber (isStopped).
 */
class BusSubject<T> extends Subject<T> {
  private snapshot: Observer<T>[] | undefined;

  // Every attachment passes here, pipelines' too (an operator subscribes to its source).
  override subscribe(observerOrNext?: Partial<Observer<T>> | ((value: T) => void)): Subscription;
  override subscribe(next?: ((value: T) => void) | null, error?: ((error: unknown) => void) | null, complete?: (() => void) | null): Subscription;
  override subscribe(...args: unknown[]): Subscription {
    this.snapshot = undefined;
    const subscription = (super.subscribe as (...a: unknown[]) => Subscription).apply(this, args);
    subscription.add(() => (this.snapshot = undefined));
    return subscription;
  }

  override next(value: T): void {
    if (this.isStopped) return;
    const observers = (this.snapshot ??= this.observers.slice());
    for (let i = 0; i < observers.length; i++) observers[i]!.next(value);
  }
}

export class EventBus {
  private readonly subject = new BusSubject<BusEvent>();
  private readonly log: (message: string) => void;
  private readonly maxReentrantQueue: number;
  private readonly reentrant: BusEvent[] = [];
  private delivering = false;

  constructor(options: EventBusOptions = {}) {
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    this.maxReentrantQueue = options.maxReentrantQueue ?? 10_000;
  }

  get subscriberCount(): number {
    return this.subject.observers.length;
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
      this.subject.next(event);
      for (let next = this.reentrant.shift(); next !== undefined; next = this.reentrant.shift()) this.subject.next(next);
    } finally {
      this.delivering = false;
    }
  }

  /**
   * Attach a handler to every event; returns the function that detaches it. Once that has
   * been called the handler receives nothing more, not even the event being delivered.
   */
  subscribe(handler: BusHandler): () => void {
    return this.attach(this.subject, handler);
  }

  /**
   * Attach a handler behind an operator pipeline (filter, observeOn, ...); returns the function
   * that detaches it. Isolated like `subscribe`: an error in the pipeline or the handler is
   * logged and ends this attachment only.
   */
  subscribeVia<T>(pipeline: OperatorFunction<BusEvent, T>, handler: (value: T) => void): () => void {
    return this.attach(this.subject.pipe(pipeline), handler);
  }

  private attach<T>(source: Observable<T>, handler: (value: T) => void): () => void {
    const subscription = source.subscribe({
      next: (value) => {
        try {
          handler(value);
        } catch (err) {
          // Safe inside next(): the Subject iterates a copy of its list, the others still get it.
          subscription.unsubscribe();
          this.report(`a handler threw on ${describe(value)} and was removed`, err);
        }
      },
      error: (err) => this.report('a pipeline failed and was removed', err),
    });
    return () => subscription.unsubscribe();
  }

  private report(what: string, err: unknown): void {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    try {
      this.log(`event bus: ${what}: ${detail}`);
    } catch {
      /* a broken logger must not break delivery either */
    }
  }
}

function describe(value: unknown): string {
  const type = (value as Partial<BusEvent> | undefined)?.event?.type;
  return typeof type === 'string' ? type : 'an event';
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
