/**
 * What `mzt top` puts on the screen, as pure functions (snapshot + view → lines): the header,
 * the jobs with their totals (snapshot `job_costs`: the one per-job definition), and the
 * processes — flat, or as a tree under each job's row (htop-like). Narrow terminals (under 100
 * columns) get fewer columns and shortened job ids, so an 80-column screen keeps every header.
 */
import type { JobCost, SystemSnapshot } from '../monitor/snapshot.js';
import { cpuPercentText, cpuTimeText, memText } from './costFormat.js';
import { duration, localTime, table } from './output.js';
import { footerLine, type TopSort, type TopView } from './topView.js';

type Proc = SystemSnapshot['processes'][number];

/** Below this many columns the tables drop PPID/FDS and shorten job ids. */
const NARROW = 100;

function fmt(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined ? '?' : n.toFixed(digits);
}

function shortId(id: string, narrow: boolean, max = 16): string {
  return narrow && id.length > max ? `${id.slice(0, max - 1)}…` : id;
}

const sortKey: Record<TopSort, (p: Proc) => number | string> = {
  cpu: (p) => -(p.cpu_percent ?? -1),
  mem: (p) => -p.rss_mb,
  pid: (p) => p.pid,
  job: (p) => `${p.job_id ?? '~'}:${String(p.sheet_num ?? 0).padStart(4, '0')}:${p.pid}`,
};

/** The process table's rows in display order: filtered by job, sorted, possibly reversed. */
export function orderProcesses(s: SystemSnapshot, view: Pick<TopView, 'sort' | 'reverse' | 'jobFilter'>): Proc[] {
  const procs = view.jobFilter === null ? [...s.processes] : s.processes.filter((p) => p.job_id === view.jobFilter);
  const key = sortKey[view.sort];
  const dir = view.reverse ? -1 : 1;
  procs.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return (ka < kb ? -1 : ka > kb ? 1 : 0) * dir;
  });
  return procs;
}

/** Three short lines (each under 80 columns on an ordinary machine), then one per GPU. */
export function headerLines(s: SystemSnapshot): string[] {
  const lines = [
    `mzt top — conductor pid ${s.daemon_pid}, up ${duration(s.conductor_uptime_seconds)} · load ${fmt(s.load_avg_1, 2)} ${fmt(s.load_avg_5, 2)} ${fmt(s.load_avg_15, 2)}`,
    `mem ${fmt(s.system_memory_used_mb, 0)}/${fmt(s.system_memory_total_mb, 0)} MB · cpu ${fmt(s.system_cpu_percent)}% of ${s.cpu_count} cores · ` +
      `sample ${fmt(s.conductor.sample_cost_ms)} ms every ${s.conductor.interval_seconds}s`,
    `pressure ${s.pressure_level.toUpperCase()} · jobs ${s.running_jobs} running · sheets ${s.active_sheets} · zombies ${s.zombie_count} · ` +
      `conductor ${fmt(s.conductor.cpu_percent)}% ${fmt(s.conductor.rss_mb)} MB`,
  ];
  for (const g of s.gpus) {
    lines.push(`gpu ${g.index} ${g.name}: ${fmt(g.utilization_pct, 0)}% · ${fmt(g.memory_used_mb, 0)}/${fmt(g.memory_total_mb, 0)} MB · ${fmt(g.temperature_c, 0)}°C`);
  }
  return lines;
}

function costOf(s: SystemSnapshot, jobId: string): JobCost | undefined {
  return (s.job_costs ?? []).find((c) => c.job_id === jobId);
}

/** The jobs table with each job's totals (with its leading blank line), or nothing when no job runs. */
export function jobLines(s: SystemSnapshot, jobFilter: string | null, columns = Infinity, selected: string | null = null): string[] {
  const jobs = jobFilter === null ? s.job_progress : s.job_progress.filter((j) => j.job_id === jobFilter);
  if (jobs.length === 0) return [];
  const narrow = columns < NARROW;
  const bar = (done: number, total: number) => {
    const width = narrow ? 8 : 20;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  const mark = (id: string) => (selected === null ? '' : id === selected ? '> ' : '  ');
  return [
    '',
    ...table(
      [`${selected === null ? '' : '  '}JOB`, 'STATUS', 'PROGRESS', 'SHEET', 'CPU%', 'RSS', 'CPU TIME', 'PROCS'],
      jobs.map((j) => {
        const c = costOf(s, j.job_id);
        return [
          `${mark(j.job_id)}${shortId(j.job_id, narrow)}`,
          j.status,
          `${bar(j.last_completed_sheet, j.total_sheets)} ${j.last_completed_sheet}/${j.total_sheets}`,
          j.current_sheet === null ? '-' : String(j.current_sheet),
          cpuPercentText(c?.cpu_percent),
          memText(c?.rss_mb),
          cpuTimeText(c?.cpu_seconds),
          c ? String(c.processes) : '-',
        ];
      }),
    ).split('\n'),
  ];
}

function processRow(p: Proc, narrow: boolean, command: string): string[] {
  const age = p.age_seconds === null ? '?' : duration(p.age_seconds);
  const threads = p.threads === null ? '?' : String(p.threads);
  if (narrow) {
    return [String(p.pid), shortId(p.job_id ?? '-', true, 12), p.sheet_num === null ? '-' : String(p.sheet_num), p.state, fmt(p.cpu_percent), fmt(p.rss_mb), threads, age, command];
  }
  return [
    String(p.pid),
    String(p.ppid),
    p.job_id ?? '-',
    p.sheet_num === null ? '-' : String(p.sheet_num),
    p.state,
    fmt(p.cpu_percent),
    fmt(p.rss_mb),
    threads,
    p.open_fds === null ? '?' : String(p.open_fds),
    age,
    command,
  ];
}

const FLAT_HEADERS = ['PID', 'PPID', 'JOB', 'SHEET', 'S', 'CPU%', 'RSS MB', 'THR', 'FDS', 'AGE', 'COMMAND'];
const NARROW_HEADERS = ['PID', 'JOB', 'SHEET', 'S', 'CPU%', 'RSS MB', 'THR', 'AGE', 'COMMAND'];

/** The process table (with its leading blank line) and the "(n more processes)" line. */
export function processLines(procs: Proc[], maxRows: number, columns = Infinity): string[] {
  const narrow = columns < NARROW;
  const lines = ['', ...table(narrow ? NARROW_HEADERS : FLAT_HEADERS, procs.slice(0, maxRows).map((p) => processRow(p, narrow, p.command.slice(0, 60)))).split('\n')];
  if (procs.length > maxRows) lines.push(`(${procs.length - maxRows} more processes)`);
  return lines;
}

/**
 * The tree view: per job a row with its totals (CPU%, RSS, processes, CPU time), then its
 * processes as a parent/child tree; then the processes of no job (the conductor's own).
 * Siblings follow the chosen sort.
 */
export function treeLines(s: SystemSnapshot, view: TopView, maxRows: number, columns = Infinity): string[] {
  const procs = orderProcesses(s, view);
  const byJob = new Map<string | null, Proc[]>();
  for (const p of procs) byJob.set(p.job_id, [...(byJob.get(p.job_id) ?? []), p]);
  const jobs = s.job_progress.filter((j) => view.jobFilter === null || j.job_id === view.jobFilter).map((j) => j.job_id);
  for (const id of byJob.keys()) if (id !== null && !jobs.includes(id)) jobs.push(id);
  const rows: string[][] = [];
  const narrow = columns < NARROW;
  for (const id of [...jobs, ...(view.jobFilter === null ? [null] : [])]) {
    const members = byJob.get(id) ?? [];
    if (id !== null) {
      const c = costOf(s, id);
      const progress = s.job_progress.find((j) => j.job_id === id);
      const mark = view.selected === id ? '>' : '';
      const about = `${mark}▼ ${id}${progress ? ` ${progress.status}, sheet ${progress.current_sheet ?? '-'}/${progress.total_sheets}` : ''} · cpu time ${cpuTimeText(c?.cpu_seconds)}`;
      rows.push(narrow
        ? ['JOB', '', '', '', cpuPercentText(c?.cpu_percent), memText(c?.rss_mb), c ? `${c.processes}p` : '-', '', about]
        : ['JOB', '', '', '', '', cpuPercentText(c?.cpu_percent), memText(c?.rss_mb), c ? `${c.processes}p` : '-', '', '', about]);
    } else if (members.length > 0) {
      rows.push(narrow ? ['-', '', '', '', '', '', '', '', '▼ (no job: the conductor)'] : ['-', '', '', '', '', '', '', '', '', '', '▼ (no job: the conductor)']);
    }
    const pids = new Set(members.map((p) => p.pid));
    const children = new Map<number, Proc[]>();
    const roots: Proc[] = [];
    for (const p of members) {
      if (pids.has(p.ppid) && p.ppid !== p.pid) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
      else roots.push(p);
    }
    const walk = (p: Proc, prefix: string, last: boolean, depth: number) => {
      const branch = depth === 0 ? '' : `${prefix}${last ? '└─ ' : '├─ '}`;
      rows.push(processRow(p, narrow, `  ${branch}${p.command.slice(0, 60)}`));
      const kids = children.get(p.pid) ?? [];
      kids.forEach((k, i) => walk(k, depth === 0 ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, depth + 1));
    };
    roots.forEach((r, i) => walk(r, '', i === roots.length - 1, 0));
  }
  const lines = ['', ...table(narrow ? NARROW_HEADERS : FLAT_HEADERS, rows.slice(0, maxRows)).split('\n')];
  if (rows.length > maxRows) lines.push(`(${rows.length - maxRows} more rows)`);
  return lines;
}

/** The non-interactive view (--once, or piped): flat unless `tree`; laid out for `columns` when a terminal says. */
export function renderTop(s: SystemSnapshot, sort: TopSort, maxRows: number, tree = false, columns = Infinity): string {
  const view: TopView = { sort, reverse: false, jobFilter: null, intervalSeconds: 0, paused: false, tree };
  const table = tree ? treeLines(s, view, maxRows, columns) : processLines(orderProcesses(s, view), maxRows, columns);
  return [...headerLines(s), ...jobLines(s, null, columns), ...table].join('\n');
}

/** Everything one interactive frame shows. */
export interface TopScreen {
  view: TopView;
  /** The latest snapshot that arrived (kept, and marked stale, while the conductor is down). */
  snapshot: SystemSnapshot | null;
  /** Set while the conductor does not answer. */
  down: { sinceEpochSeconds: number; reason: string } | null;
  /** The conductor answered, but without a snapshot (e.g. none taken yet). */
  notice: string | null;
  socketPath: string;
  /** Terminal size. */
  rows: number;
  columns: number;
}

function clip(line: string, columns: number): string {
  return line.length > columns ? line.slice(0, Math.max(0, columns)) : line;
}

/**
 * One interactive frame, exactly `rows` lines or fewer, none longer than `columns`:
 * header (or a conductor-down banner), jobs, as many processes as fit, a question or the
 * last action's outcome, footer last.
 */
export function renderTopScreen(screen: TopScreen): string[] {
  const { view, snapshot: s } = screen;
  const rows = Math.max(3, screen.rows);
  const top: string[] = [];
  if (screen.down) {
    top.push(`mzt top — CONDUCTOR DOWN since ${localTime(screen.down.sinceEpochSeconds).slice(11)} (${screen.down.reason}) · retrying`);
    top.push(`no answer on ${screen.socketPath} · start it with: mzt conductor start`);
    if (s) top.push(`(stale: the last snapshot, from ${localTime(s.timestamp)})`);
  } else if (!s) {
    top.push(`mzt top — ${screen.notice ?? 'waiting for the first snapshot…'}`);
  } else if (screen.notice) {
    top.push(`mzt top — ${screen.notice} (showing the snapshot from ${localTime(s.timestamp)})`);
  }
  const prompt = view.confirm
    ? [`press y to ${view.confirm.action} job ${view.confirm.job_id} (any other key: no)`] // the key first: a narrow screen cuts the end
    : view.message
      ? [view.message]
      : [];
  const body: string[] = [];
  if (s) {
    body.push(...headerLines(s));
    if (!view.tree) body.push(...jobLines(s, view.jobFilter, screen.columns, view.selected ?? null));
    // Room left for table rows: everything else, the table header and its blank line, a
    // possible "(n more)" line, the prompt and the footer.
    const fixed = top.length + body.length + 2 + 1 + prompt.length + 1;
    const maxRows = Math.max(1, rows - fixed);
    if (view.tree) {
      body.push(...treeLines(s, view, maxRows, screen.columns));
    } else {
      const procs = orderProcesses(s, view);
      body.push(...processLines(procs, maxRows, screen.columns));
      if (procs.length === 0 && view.jobFilter !== null) body.push(`(no processes of job ${view.jobFilter})`);
    }
  }
  const lines = [...top, ...body].slice(0, rows - 1 - prompt.length);
  lines.push(...prompt, footerLine(view, screen.columns));
  return lines.map((l) => clip(l, screen.columns));
}
