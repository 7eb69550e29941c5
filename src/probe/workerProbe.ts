/**
 * The system probe behind a worker thread (see probeWorker.ts): same `sample()` contract —
 * never rejects, failures come back as `{ok: false, error}`. A worker that dies or does not
 * answer in time is replaced on the next sample.
 */
import { Worker } from 'node:worker_threads';
import type { ProbeResult, ProcessTag } from './types.js';

export interface SampleSource {
  sample(rootPid: number, tags?: ReadonlyMap<number, ProcessTag>): Promise<ProbeResult>;
  close?(): Promise<void>;
}

export class WorkerProbe implements SampleSource {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (r: ProbeResult) => void>();

  constructor(
    private readonly options: { timeoutMs?: number; log?: (msg: string) => void } = {},
  ) {}

  sample(rootPid: number, tags: ReadonlyMap<number, ProcessTag> = new Map()): Promise<ProbeResult> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const timestamp = Date.now() / 1000;
    const started = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.restart('did not answer in time');
        resolve({ ok: false, source: 'proc', timestamp, error: 'probe worker did not answer in time', sample_duration_ms: performance.now() - started });
      }, this.options.timeoutMs ?? 10_000);
      this.pending.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      worker.postMessage({ id, rootPid, tags: [...tags] });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./probeWorker.js', import.meta.url));
    worker.unref();
    worker.on('message', (msg: { id: number; result: ProbeResult; logs: string[] }) => {
      for (const line of msg.logs) this.options.log?.(line);
      const done = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      done?.(msg.result);
    });
    worker.on('error', (err) => this.restart(err.message));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }

  private restart(reason: string): void {
    this.options.log?.(`probe worker replaced: ${reason}`);
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate();
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const done of failed) {
      done({ ok: false, source: 'proc', timestamp: Date.now() / 1000, error: `probe worker failed: ${reason}`, sample_duration_ms: 0 });
    }
  }
}
