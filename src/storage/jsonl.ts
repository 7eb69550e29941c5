/**
 * monitor.jsonl: one snapshot per line, for tailing with standard tools.
 *
 * - A line is written with one append of the complete buffer, so a reader never sees half a
 *   line written by us (it may see a line still being written only if it reads mid-syscall,
 *   which O_APPEND writes of this size do not allow on local filesystems).
 * - Rotation by size keeps two old files (path.1, path.2) and works by rename, so a reader
 *   holding the old file open reads it to its end undisturbed.
 * - Writes are asynchronous and queued; the queue is bounded (lines beyond it are dropped and
 *   counted — snapshots are ephemeral, the next one is a second away).
 */
import fs from 'node:fs';

export interface JsonlOptions {
  maxBytes: number;
  keepRotated?: number;
  maxQueuedLines?: number;
}

export class JsonlWriter {
  private queue: Buffer[] = [];
  private writing = false;
  private size: number;
  dropped = 0;
  lastError: string | undefined;

  constructor(
    readonly path: string,
    private readonly options: JsonlOptions,
  ) {
    try {
      this.size = fs.statSync(path).size;
    } catch {
      this.size = 0;
    }
  }

  append(value: unknown): void {
    this.appendJson(JSON.stringify(value));
  }

  /** append() for a value the caller has already serialized (one line of JSON, no newline). */
  appendJson(json: string): void {
    if (this.queue.length >= (this.options.maxQueuedLines ?? 1000)) {
      this.dropped++;
      return;
    }
    this.queue.push(Buffer.from(`${json}\n`));
    if (!this.writing) void this.drain();
  }

  /** Resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.writing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const line = this.queue.shift()!;
        if (this.size > 0 && this.size + line.length > this.options.maxBytes) await this.rotate();
        try {
          await fs.promises.appendFile(this.path, line, { mode: 0o600 });
          this.size += line.length;
          this.lastError = undefined;
        } catch (err) {
          this.lastError = (err as Error).message;
          this.dropped++;
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async rotate(): Promise<void> {
    const keep = this.options.keepRotated ?? 2;
    await fs.promises.rm(`${this.path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      await fs.promises.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
    }
    await fs.promises.rename(this.path, `${this.path}.1`).catch(() => undefined);
    this.size = 0;
  }
}
