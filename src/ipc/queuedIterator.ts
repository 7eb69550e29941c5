/**
 * A bounded queue consumed as an async iterator: a producer pushes, one consumer pulls with
 * `for await`. It never drops: past `highWater` queued items it asks the producer to stop
 * (`onFull`, e.g. pause the socket), and once drained to `lowWater` to go on (`onRoom`). Items
 * leave from a head index, not by Array.shift (which moves every queued item each time).
 */
export interface QueuedIteratorOptions<T> {
  highWater: number;
  /** Default: half of highWater. */
  lowWater?: number;
  onFull?(): void;
  onRoom?(): void;
  /** Each item as the consumer takes it. */
  onTake?(item: T): void;
  /** The consumer stopped early (break / return()). */
  onReturn?(): Promise<void> | void;
}

export class QueuedIterator<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private full = false;
  private readonly lowWater: number;
  private resolveClosed!: () => void;
  /** Resolves once ended and every queued item was taken. */
  readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  constructor(private readonly options: QueuedIteratorOptions<T>) {
    this.lowWater = options.lowWater ?? Math.floor(options.highWater / 2);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.options.onTake?.(item);
      waiter({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.full && this.length >= this.options.highWater) {
      this.full = true;
      this.options.onFull?.();
    }
  }

  /** No more items: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter({ value: undefined, done: true });
    }
    if (this.length === 0) this.resolveClosed();
  }

  private take(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T; // let it be collected
    // Compact once the taken part dominates, so the array does not grow for ever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.full && this.length <= this.lowWater) {
      this.full = false;
      this.options.onRoom?.();
    }
    this.options.onTake?.(item);
    return item;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.length > 0) {
          const item = this.take()!;
          if (this.ended && this.length === 0) this.resolveClosed();
          return Promise.resolve({ value: item, done: false });
        }
        if (this.ended) {
          this.resolveClosed();
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: async () => {
        this.end();
        this.items = [];
        this.head = 0;
        this.resolveClosed();
        await this.options.onReturn?.();
        return { value: undefined, done: true };
      },
    };
  }
}
