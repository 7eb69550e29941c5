/**
 * Restart-with-backoff for the watcher actors. An actor that fails (an exception inside the
 * machine) is recreated after a delay that doubles up to a cap, and each restart is
 * recorded as a durable `actor.restarted` event. Restart counts feed `daemon.health`.
 */
import type { NewEvent } from '../events/types.js';
import type { LogFn } from '../log/logger.js';

export interface SupervisedActor {
  start(): void;
  stop(): void;
}

export interface SupervisorOptions {
  record(event: NewEvent): void;
  log?: LogFn;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Restarts within this window count as "repeated". */
  windowMs?: number;
}

export class Supervisor {
  private readonly restarts = new Map<string, number[]>();
  private stopped = false;

  constructor(private readonly options: SupervisorOptions) {}

  /**
   * Run `create()`'s actor; when it reports a failure through `onFailure`, stop it and
   * create a fresh one after the backoff.
   */
  supervise<T extends SupervisedActor>(name: string, create: (onFailure: (err: unknown) => void) => T, onReplace?: (actor: T) => void): T {
    let delay = this.options.initialDelayMs ?? 1000;
    const max = this.options.maxDelayMs ?? 60_000;
    const launch = (): T => {
      let failed = false;
      const actor: T = create((err) => {
        if (failed || this.stopped) return;
        failed = true;
        const message = err instanceof Error ? err.message : String(err);
        const history = this.restarts.get(name) ?? [];
        history.push(Date.now());
        this.restarts.set(name, history.slice(-100));
        this.options.log?.(`${name} failed (${message}); restarting in ${delay} ms`, 'warn');
        try {
          actor.stop();
        } catch {
          /* already stopped by its failure */
        }
        const wait = delay;
        delay = Math.min(delay * 2, max);
        setTimeout(() => {
          if (this.stopped) return;
          const next = launch();
          onReplace?.(next);
          this.options.record({ type: 'actor.restarted', data: { actor: name, error: message, restarts: this.recentRestarts(name), delay_ms: wait } });
        }, wait).unref();
      });
      actor.start();
      return actor;
    };
    return launch();
  }

  /** Restarts of `name` within the window. */
  recentRestarts(name: string): number {
    const since = Date.now() - (this.options.windowMs ?? 10 * 60_000);
    return (this.restarts.get(name) ?? []).filter((t) => t >= since).length;
  }

  summary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of this.restarts.keys()) out[name] = this.recentRestarts(name);
    return out;
  }

  stop(): void {
    this.stopped = true;
  }
}
