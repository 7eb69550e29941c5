/**
 * Whom the resource monitor sheds, and when it lets go — pure decisions; the conductor
 * carries them out (conductor/shedding.ts).
 *
 * At the hard limit the job blamed is the one contributing most to the crossed measure
 * (largest RSS for memory, most processes for the process limit; ties go to the newest). It
 * is PAUSED first, and cancelled if the pressure is still at the hard limit after the grace.
 * A stopped process keeps its memory and its process slots, so a pause alone rarely lowers
 * the figures: it stops the growth (a leak, a fork loop) and gives a person the grace to act;
 * the cancel after it is what frees them. While a job the monitor paused is in its grace, no
 * other job is shed. Below the warn level (with hysteresis) the monitor resumes its own
 * pauses, oldest first, one per check. A job a person paused is never touched.
 *
 * Per-job limits (`limits` in the job spec) work the same way on that job alone, from its cost
 * figures at every sample: over a limit → paused; still over after the grace → cancelled;
 * back under while paused → resumed.
 */
import type { JobLimits } from '../events/jobRecord.js';
import { acceptsWork, type PressureLevel } from './pressure.js';

export type Measure = 'memory' | 'processes';

/** A running job and what it contributes now. */
export interface Candidate {
  job_id: string;
  /** When it started (any monotonic order works: only compared for ties). */
  started_at: number;
  rss_mb: number;
  processes: number;
}

export interface Blame {
  job_id: string;
  measure: Measure;
  /** The job's figure (MB or processes) and the measure's total. */
  figure: number;
  total: number;
  /** figure / total, 0..1 (rounded to 3 decimals). */
  share: number;
  /** Why this job, in words. */
  why: string;
}

/** A pause this monitor made and still holds. */
export interface MonitorPause {
  job_id: string;
  /** ms since the epoch. */
  paused_at: number;
  cause: 'pressure' | 'job_limit';
  /** What was crossed: a measure (pressure) or the job's own limit key. */
  what: Measure | keyof JobLimits;
}

const unit = (m: Measure) => (m === 'memory' ? ' MB' : '');
const fmt = (m: Measure, v: number) => (m === 'memory' ? `${Math.round(v * 10) / 10}${unit(m)}` : String(v));
const pct = (share: number) => `${Math.round(share * 1000) / 10}%`;

/** The job contributing most to `measure` (ties → the newest); none when nobody contributes. */
export function blame(measure: Measure, candidates: readonly Candidate[], total: number): Blame | undefined {
  const figureOf = (c: Candidate) => (measure === 'memory' ? c.rss_mb : c.processes);
  const ranked = candidates.filter((c) => figureOf(c) > 0).sort((a, b) => figureOf(b) - figureOf(a) || b.started_at - a.started_at);
  const top = ranked[0];
  if (!top) return undefined;
  const figure = figureOf(top);
  const share = total > 0 ? Math.round((figure / total) * 1000) / 1000 : 0;
  const what = measure === 'memory' ? 'largest RSS' : 'most processes';
  let why = `${what}: ${fmt(measure, figure)} of ${fmt(measure, total)} (${pct(share)})`;
  const next = ranked[1];
  if (next && figureOf(next) === figure) why += `; tied with ${next.job_id}, the newest is shed`;
  else if (next) why += `; next: ${next.job_id} with ${fmt(measure, figureOf(next))}`;
  else why += '; the only running job contributing';
  return { job_id: top.job_id, measure, figure, total, share, why };
}

export interface PressureInput {
  now: number;
  level: PressureLevel;
  memory_mb: number;
  processes: number;
  memory_percent: number;
  process_percent: number;
  hard_percent: number;
  /** Running (not paused) jobs. */
  candidates: readonly Candidate[];
  /** This monitor's pressure pauses still held, any order. */
  paused: readonly MonitorPause[];
  grace_ms: number;
}

export type PressureAction =
  | { kind: 'pause'; blame: Blame }
  | { kind: 'cancel'; pause: MonitorPause; why: string }
  | { kind: 'resume'; pause: MonitorPause; why: string }
  | { kind: 'wait'; pause: MonitorPause }
  | { kind: 'none_running'; measure: Measure };

/** The measure that crossed the hard limit (the larger one when both did, or while falling). */
export function crossedMeasure(i: Pick<PressureInput, 'memory_percent' | 'process_percent'>): Measure {
  return i.memory_percent >= i.process_percent ? 'memory' : 'processes';
}

/** At most one action per check; undefined = nothing to do. */
export function decidePressure(i: PressureInput): PressureAction | undefined {
  const ours = [...i.paused].filter((p) => p.cause === 'pressure').sort((a, b) => a.paused_at - b.paused_at);
  const usage = `memory ${i.memory_percent}%, processes ${i.process_percent}%`;
  if (i.level === 'critical') {
    const expired = ours.find((p) => i.now - p.paused_at >= i.grace_ms);
    if (expired) {
      const seconds = Math.round((i.now - expired.paused_at) / 100) / 10;
      return {
        kind: 'cancel',
        pause: expired,
        why: `paused ${seconds} s ago for ${expired.what}; still at the hard limit (${usage}, limit ${i.hard_percent}%) after the ${i.grace_ms / 1000} s grace`,
      };
    }
    if (ours[0]) return { kind: 'wait', pause: ours[0] };
    const measure = crossedMeasure(i);
    const b = blame(measure, i.candidates, measure === 'memory' ? i.memory_mb : i.processes);
    return b ? { kind: 'pause', blame: b } : { kind: 'none_running', measure };
  }
  // Below warn, hysteresis included (the level falls only once usage is clear of it).
  if (acceptsWork(i.level) && ours[0]) {
    return { kind: 'resume', pause: ours[0], why: `pressure fell to ${i.level} (${usage}), below the warn level` };
  }
  return undefined;
}

export interface JobFigures {
  job_id: string;
  rss_mb: number;
  processes: number;
}

export type JobLimitAction =
  | { kind: 'pause'; job_id: string; limit: keyof JobLimits; limit_value: number; figure: number; why: string }
  | { kind: 'cancel'; job_id: string; limit: keyof JobLimits; limit_value: number; figure: number; why: string }
  | { kind: 'resume'; pause: MonitorPause; why: string };

/** The first of the job's limits its figures exceed. */
export function exceededLimit(f: JobFigures, limits: JobLimits): { limit: keyof JobLimits; limit_value: number; figure: number } | undefined {
  if (limits.memory_mb !== undefined && f.rss_mb > limits.memory_mb) return { limit: 'memory_mb', limit_value: limits.memory_mb, figure: f.rss_mb };
  if (limits.processes !== undefined && f.processes > limits.processes) return { limit: 'processes', limit_value: limits.processes, figure: f.processes };
  return undefined;
}

/**
 * Per-job limits at one sample. `running`: figures of running (not paused) jobs; `paused`:
 * this monitor's job-limit pauses with the paused job's figures.
 */
export function decideJobLimits(i: {
  now: number;
  running: readonly JobFigures[];
  paused: ReadonlyArray<{ pause: MonitorPause; figures: JobFigures | undefined }>;
  limits: ReadonlyMap<string, JobLimits>;
  grace_ms: number;
}): JobLimitAction[] {
  const out: JobLimitAction[] = [];
  const describe = (limit: keyof JobLimits, figure: number, value: number) =>
    limit === 'memory_mb' ? `RSS ${Math.round(figure * 10) / 10} MB over its memory_mb limit of ${value}` : `${figure} processes over its processes limit of ${value}`;
  for (const f of i.running) {
    const limits = i.limits.get(f.job_id);
    const over = limits && exceededLimit(f, limits);
    if (over) out.push({ kind: 'pause', job_id: f.job_id, ...over, why: describe(over.limit, over.figure, over.limit_value) });
  }
  for (const { pause, figures } of i.paused) {
    const limits = i.limits.get(pause.job_id);
    // Not sampled (yet): nothing is known, so nothing changes.
    if (pause.cause !== 'job_limit' || !figures || !limits) continue;
    const over = exceededLimit(figures, limits);
    if (!over) {
      out.push({ kind: 'resume', pause, why: `back under its ${pause.what} limit` });
    } else if (i.now - pause.paused_at >= i.grace_ms) {
      const why = `${describe(over.limit, over.figure, over.limit_value)}; still over ${Math.round((i.now - pause.paused_at) / 100) / 10} s after it was paused (grace ${i.grace_ms / 1000} s)`;
      out.push({ kind: 'cancel', job_id: pause.job_id, ...over, why });
    }
  }
  return out;
}
