/**
 * Records a job's events in order, and keeps what the store refused (a full disk, an I/O
 * error) until it accepts writes again — nothing the conductor learns about a job is dropped
 * because the disk was full when it happened.
 *
 * Order: one event per job is handed to the store at a time, the next only once the previous
 * one is committed. The store commits in groups, so two events of a job handed over together
 * could land in different commits and the later one succeed where the earlier one failed.
 *
 * Retry: a job whose event was refused holds it and everything after it. A timer retries the
 * oldest held event of each such job, backing off from RETRY_FIRST_MS to RETRY_MAX_MS; a
 * successful write of any job's event retries the others at once.
 *
 * Bound: at most `maxHeld` detail events (process.*, sheet.started, job.started, job.queued)
 * wait in all. Beyond it new detail events are not recorded — counted and logged. A job's
 * outcomes (sheet.completed/failed and its terminal event) are always kept: at most one per
 * sheet plus one per job, of jobs whose specs the conductor holds anyway.
 *
 * Held events live in memory only: a conductor that stops before the store takes them loses
 * them (it logs which); the log still says the job runs, and the next start closes it as
 * interrupted, as for any job a dead conductor left running.
 */
import type { NewEvent } from '../events/types.js';
import type { LogFn } from '../log/logger.js';

const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;
export const DEFAULT_MAX_HELD = 1000;

// A restart's events are outcomes too: without them the log would show the job ended.
const OUTCOMES = new Set(['sheet.completed', 'sheet.failed', 'job.completed', 'job.failed', 'job.cancelled', 'job.interrupted', 'job.restart_scheduled', 'job.retried']);

interface Entry {
  event: NewEvent;
  done: () => void;
}

interface JobQueue {
  entries: Entry[];
  inFlight: boolean;
  /** The store refused the head entry; it waits for the next retry. */
  held: boolean;
  heldSince: number;
  /** Detail events not recorded because the bound was reached. */
  lost: number;
  idle: Array<() => void>;
  /** Waiting for the queue to settle or be held, whichever comes first. */
  settledOrHeld: Array<(settled: boolean) => void>;
}

export interface JobEventWriterOptions {
  /** Durable append; resolves after commit, rejects with StorageError or TypeError. */
  append(e: NewEvent): Promise<unknown>;
  log: LogFn;
  maxHeld?: number;
}

export class JobEventWriter {
  private readonly queues = new Map<string, JobQueue>();
  private readonly maxHeld: number;
  private details = 0; // detail entries queued, all jobs
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = RETRY_FIRST_MS;
  private stopped = false;
  /** Detail events not recorded because of the bound, since start. */
  lostTotal = 0;

  constructor(private readonly options: JobEventWriterOptions) {
    this.maxHeld = options.maxHeld ?? DEFAULT_MAX_HELD;
    if (!Number.isSafeInteger(this.maxHeld) || this.maxHeld < 0) throw new RangeError(`maxHeld must be an integer >= 0, got ${options.maxHeld}`);
  }

  /** Events refused by the store and still waiting (with those queued behind them). */
  get heldCount(): number {
    let n = 0;
    for (const q of this.queues.values()) if (q.held) n += q.entries.length;
    return n;
  }

  /** Queue a job event; resolves when it is committed (or refused as malformed, or not kept). */
  record(event: NewEvent & { job_id: string }): Promise<void> {
    let q = this.queues.get(event.job_id);
    if (!q) {
      q = { entries: [], inFlight: false, held: false, heldSince: 0, lost: 0, idle: [], settledOrHeld: [] };
      this.queues.set(event.job_id, q);
    }
    const outcome = OUTCOMES.has(event.type);
    if (!outcome && this.details >= this.maxHeld) {
      q.lost += 1;
      this.lostTotal += 1;
      if (q.lost === 1) {
        this.options.log(
          `job ${event.job_id}: ${this.maxHeld} events already wait for the store (the bound); ${event.type} is not recorded, nor further detail events while it is reached (outcomes are kept)`,
        );
      }
      return Promise.resolve();
    }
    if (!outcome) this.details += 1;
    const done = new Promise<void>((resolve) => q.entries.push({ event, done: resolve }));
    this.pump(event.job_id, q);
    return done;
  }

  /** Resolves when every event recorded so far for the job is committed. */
  settled(jobId: string): Promise<void> {
    const q = this.queues.get(jobId);
    if (!q) return Promise.resolve();
    return new Promise((resolve) => q.idle.push(resolve));
  }

  /** True once every event of the job so far is committed; false as soon as the store refuses one. */
  settledOrHeld(jobId: string): Promise<boolean> {
    const q = this.queues.get(jobId);
    if (!q) return Promise.resolve(true);
    if (q.held) return Promise.resolve(false);
    return new Promise((resolve) => q.settledOrHeld.push(resolve));
  }

  /** Wait for every queued event, retrying held ones now (shutdown); false when some are still not recorded. */
  async drain(timeoutMs: number): Promise<boolean> {
    const all = Promise.all([...this.queues.keys()].map((id) => this.settled(id))).then(() => true);
    if (this.retryTimer) this.retryNow();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const result = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return result;
  }

  /** What is still not recorded, for the log when giving up. */
  describeUnrecorded(): string[] {
    const out: string[] = [];
    for (const [jobId, q] of this.queues) if (q.entries.length) out.push(`${jobId}: ${q.entries.map((e) => e.event.type).join(', ')}`);
    return out;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private pump(jobId: string, q: JobQueue): void {
    if (q.inFlight || q.held || this.stopped) return;
    const head = q.entries[0];
    if (!head) {
      this.queues.delete(jobId);
      if (q.lost) this.options.log(`job ${jobId}: ${q.lost} detail event(s) were not recorded (more than ${this.maxHeld} waited for the store)`, 'warn');
      for (const resolve of q.idle.splice(0)) resolve();
      for (const resolve of q.settledOrHeld.splice(0)) resolve(true);
      return;
    }
    q.inFlight = true;
    this.options.append(head.event).then(
      () => {
        q.inFlight = false;
        this.shift(q);
        this.retryDelay = RETRY_FIRST_MS;
        if (q.heldSince) {
          const held = (Date.now() - q.heldSince) / 1000;
          this.options.log(`job ${jobId}: the store accepts writes again; recording events held for ${held.toFixed(1)} s`);
          q.heldSince = 0;
        }
        // The store took a write: whatever other jobs hold may go now too.
        if (this.retryTimer) this.retryNow();
        this.pump(jobId, q);
      },
      (err: Error) => {
        q.inFlight = false;
        if (err instanceof TypeError) {
          // Malformed: retrying cannot help, and it must not block the job's later events.
          this.options.log(`could not record ${head.event.type}: ${err.message}`, 'error');
          this.shift(q);
          this.pump(jobId, q);
          return;
        }
        q.held = true;
        for (const resolve of q.settledOrHeld.splice(0)) resolve(false);
        if (!q.heldSince) {
          q.heldSince = Date.now();
          this.options.log(`could not record ${head.event.type} of job ${jobId}: ${err.message}; kept, with what follows, until the store accepts writes`, 'error');
        }
        this.scheduleRetry();
      },
    );
  }

  private shift(q: JobQueue): void {
    const entry = q.entries.shift();
    if (!entry) return;
    if (!OUTCOMES.has(entry.event.type)) this.details -= 1;
    entry.done();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
      this.retryHeld();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private retryNow(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryDelay = RETRY_FIRST_MS;
    this.retryHeld();
  }

  private retryHeld(): void {
    for (const [jobId, q] of this.queues) {
      if (!q.held) continue;
      q.held = false;
      this.pump(jobId, q);
    }
  }
}
