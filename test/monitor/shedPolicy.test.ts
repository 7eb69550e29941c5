/**
 * The shed policy's decisions (monitor/shedPolicy.ts): whom to blame per measure, ties to
 * the newest, pause first and cancel only after the grace, no second pause during a grace,
 * resume below warn oldest pause first, and per-job limits at each bound.
 */
import { describe, expect, it } from 'vitest';
import { blame, decideJobLimits, decidePressure, exceededLimit, type MonitorPause, type PressureInput } from '../../src/monitor/shedPolicy.js';

const job = (job_id: string, started_at: number, rss_mb: number, processes: number) => ({ job_id, started_at, rss_mb, processes });
const OLD_FORKER = job('forker', 1, 40, 55);
const NEW_INNOCENT = job('innocent', 2, 5, 1);
const MEM_HOG = job('hog', 1, 900, 2);

describe('blame', () => {
  it('the process limit blames the job with most processes, not the newest', () => {
    const b = blame('processes', [OLD_FORKER, NEW_INNOCENT], 57)!;
    expect(b).toMatchObject({ job_id: 'forker', measure: 'processes', figure: 55, total: 57, share: 0.965 });
    expect(b.why).toBe('most processes: 55 of 57 (96.5%); next: innocent with 1');
  });

  it('the memory limit blames the largest RSS', () => {
    const b = blame('memory', [MEM_HOG, OLD_FORKER, NEW_INNOCENT], 1000)!;
    expect(b).toMatchObject({ job_id: 'hog', figure: 900, share: 0.9 });
    expect(b.why).toBe('largest RSS: 900 MB of 1000 MB (90%); next: forker with 40 MB');
  });

  it('a tie goes to the newest job', () => {
    const b = blame('processes', [job('older', 1, 1, 10), job('newer', 5, 1, 10), job('oldest', 0, 1, 10)], 31)!;
    expect(b.job_id).toBe('newer');
    expect(b.why).toMatch(/tied with (older|oldest), the newest is shed/);
  });

  it('a job contributing nothing is never blamed; no candidate → none', () => {
    expect(blame('memory', [job('idle', 1, 0, 0)], 500)).toBeUndefined();
    expect(blame('processes', [], 5)).toBeUndefined();
    expect(blame('processes', [OLD_FORKER], 55)!.why).toMatch(/the only running job contributing/);
  });
});

const GRACE = 30_000;
const base = (over: Partial<PressureInput> = {}): PressureInput => ({
  now: 100_000,
  level: 'critical',
  memory_mb: 200,
  processes: 57,
  memory_percent: 2.4,
  process_percent: 114,
  hard_percent: 95,
  candidates: [OLD_FORKER, NEW_INNOCENT],
  paused: [],
  grace_ms: GRACE,
  ...over,
});
const pause = (job_id: string, paused_at: number, cause: MonitorPause['cause'] = 'pressure'): MonitorPause => ({ job_id, paused_at, cause, what: 'processes' });

describe('decidePressure', () => {
  it('at the hard limit pauses the job to blame', () => {
    const a = decidePressure(base());
    expect(a).toMatchObject({ kind: 'pause', blame: { job_id: 'forker', measure: 'processes' } });
  });

  it('the measure that crossed decides the blame (memory when memory did)', () => {
    const a = decidePressure(base({ memory_percent: 97, process_percent: 10, candidates: [MEM_HOG, OLD_FORKER] }));
    expect(a).toMatchObject({ kind: 'pause', blame: { job_id: 'hog', measure: 'memory' } });
  });

  it('waits while its paused job is in the grace, and cancels it once the grace is over', () => {
    const p = pause('forker', 100_000 - GRACE + 1);
    expect(decidePressure(base({ paused: [p], candidates: [NEW_INNOCENT] }))).toEqual({ kind: 'wait', pause: p });
    const late = pause('forker', 100_000 - GRACE); // exactly the grace
    const a = decidePressure(base({ paused: [late], candidates: [NEW_INNOCENT] }));
    expect(a).toMatchObject({ kind: 'cancel', pause: late });
    expect(a!.kind === 'cancel' && a.why).toMatch(/^paused 30 s ago for processes; still at the hard limit .* after the 30 s grace$/);
  });

  it('below critical a paused job is not cancelled, and it is resumed only below warn', () => {
    const p = pause('forker', 0);
    expect(decidePressure(base({ level: 'high', paused: [p] }))).toBeUndefined();
    const a = decidePressure(base({ level: 'medium', paused: [p], process_percent: 60 }));
    expect(a).toMatchObject({ kind: 'resume', pause: p });
    expect(a!.kind === 'resume' && a.why).toMatch(/pressure fell to medium \(memory 2.4%, processes 60%\), below the warn level/);
  });

  it('resumes the oldest pause first, one per check, and never a job-limit pause', () => {
    const older = pause('a', 10);
    const newer = pause('b', 20);
    expect(decidePressure(base({ level: 'none', paused: [newer, older] }))).toMatchObject({ kind: 'resume', pause: older });
    expect(decidePressure(base({ level: 'none', paused: [pause('c', 5, 'job_limit')] }))).toBeUndefined();
  });

  it('nothing running to blame → none_running; nothing to do under no pressure', () => {
    expect(decidePressure(base({ candidates: [] }))).toEqual({ kind: 'none_running', measure: 'processes' });
    expect(decidePressure(base({ level: 'none' }))).toBeUndefined();
  });
});

describe('per-job limits', () => {
  it('a limit is exceeded only above its value', () => {
    const f = { job_id: 'j', rss_mb: 100, processes: 5 };
    expect(exceededLimit(f, { memory_mb: 100, processes: 5 })).toBeUndefined();
    expect(exceededLimit(f, { memory_mb: 99.9 })).toEqual({ limit: 'memory_mb', limit_value: 99.9, figure: 100 });
    expect(exceededLimit(f, { processes: 4 })).toEqual({ limit: 'processes', limit_value: 4, figure: 5 });
    expect(exceededLimit(f, {})).toBeUndefined();
  });

  it('over → pause; still over after the grace → cancel; back under → resume; unknown figures → nothing', () => {
    const limits = new Map([['j', { processes: 3 }]]);
    const over = { job_id: 'j', rss_mb: 10, processes: 8 };
    const under = { ...over, processes: 2 };
    expect(decideJobLimits({ now: 0, running: [over], paused: [], limits, grace_ms: GRACE })).toEqual([
      { kind: 'pause', job_id: 'j', limit: 'processes', limit_value: 3, figure: 8, why: '8 processes over its processes limit of 3' },
    ]);
    expect(decideJobLimits({ now: 0, running: [under], paused: [], limits, grace_ms: GRACE })).toEqual([]);
    const p: MonitorPause = { job_id: 'j', paused_at: 0, cause: 'job_limit', what: 'processes' };
    expect(decideJobLimits({ now: GRACE - 1, running: [], paused: [{ pause: p, figures: over }], limits, grace_ms: GRACE })).toEqual([]);
    const cancel = decideJobLimits({ now: GRACE, running: [], paused: [{ pause: p, figures: over }], limits, grace_ms: GRACE });
    expect(cancel).toMatchObject([{ kind: 'cancel', job_id: 'j', limit: 'processes', figure: 8 }]);
    expect(cancel[0]!.why).toBe('8 processes over its processes limit of 3; still over 30 s after it was paused (grace 30 s)');
    expect(decideJobLimits({ now: GRACE, running: [], paused: [{ pause: p, figures: under }], limits, grace_ms: GRACE })).toEqual([
      { kind: 'resume', pause: p, why: 'back under its processes limit' },
    ]);
    expect(decideJobLimits({ now: GRACE, running: [], paused: [{ pause: p, figures: undefined }], limits, grace_ms: GRACE })).toEqual([]);
    // a pressure pause is not the job limits' business
    expect(decideJobLimits({ now: GRACE, running: [], paused: [{ pause: { ...p, cause: 'pressure' }, figures: under }], limits, grace_ms: GRACE })).toEqual([]);
  });
});
