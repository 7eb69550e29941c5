/**
 * live_restore's memory in the job manager: jobs re-adopted from a previous conductor, the
 * marker instances their sheets carry, and jobs let go of at shutdown (their machines stop,
 * the jobs run on for the next conductor).
 */
import type { NewEvent } from '../events/types.js';
import { parseMarker } from '../probe/sheetMarker.js';
import type { RestorePlan } from './liveRestore/liveHost.js';

/** A job re-adopted from a previous conductor (live_restore). */
export interface Restored {
  downtime_ms: number;
  /** Whether the log has the adopted sheet's sheet.started. */
  startRecorded: boolean;
  /** The machine records job.started again; the job did not start again. */
  startedSkipped: boolean;
  /** When the job first started (epoch seconds). */
  startedAt?: number;
}

export class AdoptedJobs {
  /** Earlier conductors' marker instances (probe/sheetMarker.ts). */
  private readonly instances = new Set<string>();
  private readonly restored = new Map<string, Restored>();
  private readonly detached = new Set<string>();

  /** Remember a job taken over from a previous conductor (before its machine starts). */
  add(plan: RestorePlan): void {
    this.restored.set(plan.job_id, {
      downtime_ms: plan.downtime_ms,
      startRecorded: plan.startRecorded,
      startedSkipped: false,
      ...(plan.startedAt !== undefined ? { startedAt: plan.startedAt } : {}),
    });
    const instance = plan.adopt?.marker?.split(':')[0];
    if (instance) this.instances.add(instance);
  }

  get(jobId: string): Restored | undefined {
    return this.restored.get(jobId);
  }

  forget(jobId: string): void {
    this.restored.delete(jobId);
  }

  /** A job whose machine a live_restore shutdown stopped: the job itself goes on. */
  detach(jobId: string): void {
    this.detached.add(jobId);
  }

  isDetached(jobId: string): boolean {
    return this.detached.has(jobId);
  }

  /** The job and sheet an MZT_SHEET_ID value names, if an adopted job's sheet set it. */
  sheetOfMarker(value: string): { job_id: string; sheet_num: number } | undefined {
    for (const instance of this.instances) {
      const found = parseMarker(instance, value);
      if (found && this.restored.has(found.job_id)) return found;
    }
    return undefined;
  }

  get hasInstances(): boolean {
    return this.instances.size > 0;
  }

  /**
   * A restored job's event as it should be recorded: undefined to drop it (the machine starts
   * again, the job did not), job.completed with the duration since the job's first start.
   */
  adjust(event: NewEvent): NewEvent | undefined {
    const restored = event.job_id !== undefined ? this.restored.get(event.job_id) : undefined;
    if (!restored) return event;
    if (event.type === 'job.started' && !restored.startedSkipped) {
      restored.startedSkipped = true;
      return undefined;
    }
    if (restored.startedAt !== undefined && event.type === 'job.completed') {
      // The machine counts from its own start; the job started under an earlier conductor.
      return { ...event, data: { ...event.data, duration_seconds: Math.round(Date.now() - restored.startedAt * 1000) / 1000 } };
    }
    return event;
  }
}
