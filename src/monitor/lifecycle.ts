/**
 * Process lifecycle as seen between two samples: which descendants appeared and which are
 * gone. (Sheet leaders are reported by the job manager itself, with exit codes; this covers
 * everything they start.) A process that lives and dies between two samples is not seen here,
 * but its CPU is still accounted through its parent's reaped-children time (src/probe).
 */
import type { ProcessMetric } from '../probe/types.js';

export interface LifecycleChange {
  spawned: ProcessMetric[];
  exited: ProcessMetric[];
}

export class LifecycleTracker {
  private known = new Map<number, ProcessMetric>();
  private first = true;

  /** Diff against the previous sample; the first sample only sets the baseline. */
  observe(processes: ProcessMetric[], ignore: ReadonlySet<number>): LifecycleChange {
    const next = new Map<number, ProcessMetric>();
    for (const p of processes) if (!ignore.has(p.pid)) next.set(p.pid, p);
    const spawned: ProcessMetric[] = [];
    const exited: ProcessMetric[] = [];
    if (!this.first) {
      for (const [pid, p] of next) if (!this.known.has(pid)) spawned.push(p);
      for (const [pid, p] of this.known) if (!next.has(pid)) exited.push(p);
    }
    this.first = false;
    this.known = next;
    return { spawned, exited };
  }
}
