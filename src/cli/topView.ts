/**
 * `mzt top`'s view state and what each key does to it, as pure functions (view + key → view,
 * and possibly a job command to send). Cancel and pause/resume of the selected job ask first:
 * the key sets `confirm`, and only `y` turns it into a command.
 */
import type { SystemSnapshot } from '../monitor/snapshot.js';

export type TopSort = 'cpu' | 'mem' | 'pid' | 'job';

export interface JobCommand {
  method: 'job.cancel' | 'job.pause' | 'job.resume';
  job_id: string;
}

/** What the person at the terminal chose; everything else comes from the snapshot. */
export interface TopView {
  sort: TopSort;
  /** Flip the natural order of the sort (cpu/mem: highest first; pid/job: ascending). */
  reverse: boolean;
  /** Only this job's processes (and progress row); null for all. */
  jobFilter: string | null;
  intervalSeconds: number;
  paused: boolean;
  /** Processes as a tree under each job's totals row (`t`). */
  tree?: boolean;
  /** The job ↑/↓ selected: what `x` (cancel) and `z` (pause/resume) act on. */
  selected?: string | null;
  /** A question waiting for `y`. */
  confirm?: { action: 'cancel' | 'pause' | 'resume'; job_id: string } | null;
  /** The outcome of the last command, shown until the next key. */
  message?: string | null;
}

/** The refresh intervals `+` and `-` step through (from any `--interval`, into these bounds). */
const INTERVAL_STEPS = [0.5, 1, 2, 3, 5, 10, 15, 20, 30] as const;
const MIN_INTERVAL = INTERVAL_STEPS[0];
const MAX_INTERVAL = INTERVAL_STEPS[INTERVAL_STEPS.length - 1]!;

export const TOP_KEYS = 'c/m/p/o sort  r reverse  t tree  j job filter  ↑↓ select job  x cancel  z pause/resume  +/- interval  space pause  q quit';
/** The keys in under 80 columns, for narrow terminals. */
const TOP_KEYS_SHORT = 'c/m/p/o r t j ↑↓ x z +/- spc q';

function sortLabel(view: TopView): string {
  const natural = view.sort === 'cpu' || view.sort === 'mem' ? 'highest first' : 'ascending';
  const flipped = view.sort === 'cpu' || view.sort === 'mem' ? 'lowest first' : 'descending';
  return `${view.sort} (${view.reverse ? flipped : natural})`;
}

function intervalLabel(seconds: number): string {
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
}

/** The footer: current state first (so a narrow terminal keeps it), then the keys. */
export function footerLine(view: TopView, columns = Infinity): string {
  const state = [
    `sort: ${sortLabel(view)}`,
    `job: ${view.jobFilter ?? 'all'}`,
    `every ${intervalLabel(view.intervalSeconds)}`,
    ...(view.tree ? ['tree'] : []),
    ...(view.selected ? [`selected: ${view.selected}`] : []),
    ...(view.paused ? ['PAUSED'] : []),
  ].join(' · ');
  const full = `${state} | ${TOP_KEYS}`;
  return full.length <= columns ? full : `${state} | ${TOP_KEYS_SHORT}`;
}

/** The jobs `j` and ↑/↓ cycle through: running jobs and jobs that own processes, sorted. */
export function jobIds(s: SystemSnapshot | null): string[] {
  if (!s) return [];
  const ids = new Set<string>();
  for (const j of s.job_progress) ids.add(j.job_id);
  for (const p of s.processes) if (p.job_id !== null) ids.add(p.job_id);
  return [...ids].sort();
}

/** all → first job → … → last job → all. A filter whose job is gone goes back to all. */
export function nextJobFilter(current: string | null, jobs: readonly string[]): string | null {
  if (current === null) return jobs[0] ?? null;
  const i = jobs.indexOf(current);
  return i < 0 ? null : (jobs[i + 1] ?? null);
}

export function stepInterval(seconds: number, direction: 1 | -1): number {
  if (direction > 0) return INTERVAL_STEPS.find((v) => v > seconds + 1e-9) ?? MAX_INTERVAL;
  return [...INTERVAL_STEPS].reverse().find((v) => v < seconds - 1e-9) ?? MIN_INTERVAL;
}

function moveSelection(current: string | null | undefined, jobs: readonly string[], step: 1 | -1): string | null {
  if (jobs.length === 0) return null;
  const i = current ? jobs.indexOf(current) : -1;
  if (i < 0) return step > 0 ? jobs[0]! : jobs[jobs.length - 1]!;
  return jobs[(i + step + jobs.length) % jobs.length]!;
}

export type KeyAction = { view: TopView; quit: boolean; refetch: boolean; reschedule: boolean; command?: JobCommand };

/**
 * One key press. `refetch`: fetch now (on resume); `reschedule`: the interval changed;
 * `command`: a confirmed job command to send. Unknown keys change nothing.
 * `statusOf` tells whether the selected job is paused (z then resumes it).
 */
export function applyKey(view: TopView, key: string, jobs: readonly string[], statusOf: (jobId: string) => string | undefined = () => undefined): KeyAction {
  if (view.confirm) {
    const next = { ...view, confirm: null };
    if (key !== 'y' && key !== 'Y') return { view: { ...next, message: `${view.confirm.action} of ${view.confirm.job_id}: not done` }, quit: false, refetch: false, reschedule: false };
    const method = `job.${view.confirm.action}` as JobCommand['method'];
    return { view: next, quit: false, refetch: false, reschedule: false, command: { method, job_id: view.confirm.job_id } };
  }
  const base = view.message ? { ...view, message: null } : view;
  const same = { view: base, quit: false, refetch: false, reschedule: false };
  const sortBy = (sort: TopSort): KeyAction => (sort === view.sort ? same : { ...same, view: { ...base, sort, reverse: false } });
  const selected = base.selected && jobs.includes(base.selected) ? base.selected : null;
  switch (key) {
    case 'q':
    case 'Q':
    case '\x03': // Ctrl+C (raw mode delivers it as a byte, not SIGINT)
      return { ...same, quit: true };
    case 'c':
    case 'C':
      return sortBy('cpu');
    case 'm':
    case 'M':
      return sortBy('mem');
    case 'p':
      return sortBy('pid');
    case 'o':
    case 'O':
      return sortBy('job'); // back to the order --sort job gives (jobs, then sheets, then pids)
    case 'r':
    case 'R':
      return { ...same, view: { ...base, reverse: !view.reverse } };
    case 't':
    case 'T':
      return { ...same, view: { ...base, tree: !view.tree } };
    case 'j':
    case 'J':
      return { ...same, view: { ...base, jobFilter: nextJobFilter(view.jobFilter, jobs) } };
    case '\x1b[A': // ↑
    case '\x1b[B': // ↓
      return { ...same, view: { ...base, selected: moveSelection(selected, jobs, key === '\x1b[B' ? 1 : -1) } };
    case 'x':
    case 'X':
      if (!selected) return { ...same, view: { ...base, message: 'select a job with ↑/↓ first' } };
      return { ...same, view: { ...base, confirm: { action: 'cancel', job_id: selected } } };
    case 'z':
    case 'Z':
      if (!selected) return { ...same, view: { ...base, message: 'select a job with ↑/↓ first' } };
      return { ...same, view: { ...base, confirm: { action: statusOf(selected) === 'paused' ? 'resume' : 'pause', job_id: selected } } };
    case '+':
    case '=':
      return { ...same, view: { ...base, intervalSeconds: stepInterval(view.intervalSeconds, 1) }, reschedule: true };
    case '-':
    case '_':
      return { ...same, view: { ...base, intervalSeconds: stepInterval(view.intervalSeconds, -1) }, reschedule: true };
    case ' ':
      return { ...same, view: { ...base, paused: !view.paused }, refetch: view.paused };
    default:
      return same;
  }
}

/** Split a chunk read in raw mode into keys; escape sequences (arrows, F-keys) are one key each. */
export function splitKeys(chunk: string): string[] {
  const keys: string[] = [];
  for (let i = 0; i < chunk.length; ) {
    if (chunk[i] === '\x1b') {
      const m = /^\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?/s.exec(chunk.slice(i))!;
      keys.push(m[0]);
      i += m[0].length;
    } else {
      const cp = chunk.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      keys.push(ch);
      i += ch.length;
    }
  }
  return keys;
}
