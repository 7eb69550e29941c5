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

  /**
   * Diff against the previous sample. The tracker is made when the conductor starts and samples
   * only its own descendants, so everything in the first sample was spawned by this conductor
   * (jobs started before the first sample): those are reported as spawned too.
   */
  observe(processes: ProcessMetric[], ignore: ReadonlySet<number>): LifecycleChange {
    const next = new Map<number, ProcessMetric>();
    for (const p of processes) if (!ignore.has(p.pid)) next.set(p.pid, p);
    const spawned: ProcessMetric[] = [];
    const exited: ProcessMetric[] = [];
    for (const [pid, p] of next) if (!this.known.has(pid)) spawned.push(p);
    for (const [pid, p] of this.known) if (!next.has(pid)) exited.push(p);
    this.known = next;
    return { spawned, exited };
  }
}
