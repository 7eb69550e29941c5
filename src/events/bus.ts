/**
 * The in-process event bus (RxJS). The store publishes each event right after its commit,
 * synchronously and in seq order; ephemeral events (snapshots) are published directly.
 * Handlers are isolated: one that throws is logged and removed, and never stops delivery to
 * the others (Marianne's bus let one subscriber stall or break all).
 */
import { Subject, type Observable } from 'rxjs';
import { encodeValue } from '../ipc/framing.js';
import { nowSeconds, type EncodedEvent, type EventEnvelope } from './types.js';

export class EventBus {
  private readonly subject = new Subject<EncodedEvent>();
  private readonly log: (msg: string) => void;

  constructor(options: { log?: (msg: string) => void } = {}) {
    this.log = options.log ?? (() => undefined);
  }

  get events$(): Observable<EncodedEvent> {
    return this.subject.asObservable();
  }

  publish(event: EncodedEvent): void {
    this.subject.next(event);
  }

  subscribe(handler: (event: EncodedEvent) => void): () => void {
    const subscription = this.subject.subscribe((e) => {
      try {
        handler(e);
      } catch (err) {
        this.log(`event bus: a subscriber threw and was removed: ${(err as Error).stack ?? String(err)}`);
        subscription.unsubscribe();
      }
    });
    return () => subscription.unsubscribe();
  }
}

/** Build and encode (once) an ephemeral event: no seq, never stored. */
export function encodeEphemeral(
  type: string,
  data: Record<string, unknown>,
  extra: { job_id?: string; sheet_num?: number; ts?: number } = {},
): EncodedEvent {
  const event: EventEnvelope = { ts: extra.ts ?? nowSeconds(), type, data };
  if (extra.job_id !== undefined) event.job_id = extra.job_id;
  if (extra.sheet_num !== undefined) event.sheet_num = extra.sheet_num;
  return { event, bytes: encodeValue(event) };
}
