/**
 * Publication of committed batches to the bus, then resolution of their appends. A handler that
 * appends while we publish (appendSync, or a full batch) commits at once, but its events wait
 * here until the current batch is fully published, so every subscriber sees seq order. The
 * queue holds only committed batches, so it is bounded by the store's maxPending.
 */
import type { Pending } from './batchWriter.js';
import { describeError } from './storageError.js';
import type { StoredEvent } from './types.js';

/** Where committed events go (the EventBus fits). Called synchronously, in seq order. */
export interface CommittedEventSink {
  publish(event: StoredEvent): void;
}

export class Delivery {
  private readonly queue: Array<{ stored: StoredEvent[]; batch: Pending[] }> = [];
  private delivering = false;

  constructor(
    private readonly bus: CommittedEventSink | undefined,
    private readonly log: (message: string) => void,
  ) {}

  /** Publish a committed batch (after any still being published), then resolve its appends. */
  push(stored: StoredEvent[], batch: Pending[]): void {
    this.queue.push({ stored, batch });
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const event of next.stored) {
          try {
            this.bus?.publish(event);
          } catch (err) {
            this.log(`event store: publishing seq ${event.event.seq} failed: ${describeError(err)}`);
          }
        }
        for (let i = 0; i < next.batch.length; i++) next.batch[i]!.resolve(next.stored[i]!);
      }
    } finally {
      this.delivering = false;
    }
  }
}
