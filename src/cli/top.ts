/**
 * `mzt top`: the conductor's live view — system line, pressure, jobs with progress, and the
 * process table tagged by job — from `monitor.snapshot` over the socket.
 *
 * Piped (or with --once / --json) it prints snapshots as text or JSON lines. On a terminal
 * (stdin and stdout both a TTY) it is interactive, the way htop is: keys change the sort,
 * filter by job, change the refresh interval, pause, quit. Everything that decides what is on
 * the screen is pure (snapshot + view state → lines, view state + key → view state); only
 * `runInteractive` touches the terminal.
 */
import type { DaemonClient } from '../ipc/client.js';
import { ConductorNotRunning, ConnectionClosed, RpcError, TimeoutError } from '../ipc/clientErrors.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';
import { duration, localTime, table } from './output.js';

export type TopSort = 'cpu' | 'mem' | 'pid' | 'job';

/** What the person at the terminal chose; everything else comes from the snapshot. */
export interface TopView {
  sort: TopSort;
  /** Flip the natural order of the sort (cpu/mem: highest first; pid/job: ascending). */
  reverse: boolean;
  /** Only this job's processes (and progress row); null for all. */
  jobFilter: string | null;
  intervalSeconds: number;
  paused: boolean;
}

/** The refresh intervals `+` and `-` step through (from any `--interval`, into these bounds). */
const INTERVAL_STEPS = [0.5, 1, 2, 3, 5, 10, 15, 20, 30] as const;
const MIN_INTERVAL = INTERVAL_STEPS[0];
const MAX_INTERVAL = INTERVAL_STEPS[INTERVAL_STEPS.length - 1]!;

export const TOP_KEYS = 'c cpu  m mem  p pid  o by job  r reverse  j job filter  +/- interval  space pause  q quit';

function fmt(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined ? '?' : n.toFixed(digits);
}

type Proc = SystemSnapshot['processes'][number];

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

function headerLines(s: SystemSnapshot): string[] {
  const lines = [
    `mzt top — conductor pid ${s.daemon_pid}, up ${duration(s.conductor_uptime_seconds)} · load ${fmt(s.load_avg_1, 2)} ${fmt(s.load_avg_5, 2)} ${fmt(s.load_avg_15, 2)} · ` +
      `mem ${fmt(s.system_memory_used_mb, 0)}/${fmt(s.system_memory_total_mb, 0)} MB · cpu ${fmt(s.system_cpu_percent)}% of ${s.cpu_count} cores`,
    `pressure ${s.pressure_level.toUpperCase()} · jobs ${s.running_jobs} running · sheets ${s.active_sheets} · zombies ${s.zombie_count} · ` +
      `conductor ${fmt(s.conductor.cpu_percent)}% cpu ${fmt(s.conductor.rss_mb)} MB · sample ${fmt(s.conductor.sample_cost_ms)} ms every ${s.conductor.interval_seconds}s`,
  ];
  for (const g of s.gpus) {
    lines.push(`gpu ${g.index} ${g.name}: ${fmt(g.utilization_pct, 0)}% · ${fmt(g.memory_used_mb, 0)}/${fmt(g.memory_total_mb, 0)} MB · ${fmt(g.temperature_c, 0)}°C`);
  }
  return lines;
}

/** The job progress table (with its leading blank line), or nothing when no job runs. */
function jobLines(s: SystemSnapshot, jobFilter: string | null): string[] {
  const jobs = jobFilter === null ? s.job_progress : s.job_progress.filter((j) => j.job_id === jobFilter);
  if (jobs.length === 0) return [];
  const bar = (done: number, total: number) => {
    const width = 20;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  return [
    '',
    ...table(
      ['JOB', 'STATUS', 'PROGRESS', 'SHEET'],
      jobs.map((j) => [
        j.job_id,
        j.status,
        `${bar(j.last_completed_sheet, j.total_sheets)} ${j.last_completed_sheet}/${j.total_sheets}`,
        j.current_sheet === null ? '-' : String(j.current_sheet),
      ]),
    ).split('\n'),
  ];
}

/** The process table (with its leading blank line) and the "(n more processes)" line. */
function processLines(procs: Proc[], maxRows: number): string[] {
  const lines = [
    '',
    ...table(
      ['PID', 'PPID', 'JOB', 'SHEET', 'S', 'CPU%', 'RSS MB', 'THR', 'FDS', 'AGE', 'COMMAND'],
      procs.slice(0, maxRows).map((p) => [
        String(p.pid),
        String(p.ppid),
        p.job_id ?? '-',
        p.sheet_num === null ? '-' : String(p.sheet_num),
        p.state,
        fmt(p.cpu_percent),
        fmt(p.rss_mb),
        p.threads === null ? '?' : String(p.threads),
        p.open_fds === null ? '?' : String(p.open_fds),
        p.age_seconds === null ? '?' : duration(p.age_seconds),
        p.command.slice(0, 60),
      ]),
    ).split('\n'),
  ];
  if (procs.length > maxRows) lines.push(`(${procs.length - maxRows} more processes)`);
  return lines;
}

/** The non-interactive view (--once, or piped): the same text as it has always been. */
export function renderTop(s: SystemSnapshot, sort: TopSort, maxRows: number): string {
  const view = { sort, reverse: false, jobFilter: null };
  return [...headerLines(s), ...jobLines(s, null), ...processLines(orderProcesses(s, view), maxRows)].join('\n');
}

// --- the interactive view ----------------------------------------------------------------

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

function sortLabel(view: TopView): string {
  const natural = view.sort === 'cpu' || view.sort === 'mem' ? 'highest first' : 'ascending';
  const flipped = view.sort === 'cpu' || view.sort === 'mem' ? 'lowest first' : 'descending';
  return `${view.sort} (${view.reverse ? flipped : natural})`;
}

function intervalLabel(seconds: number): string {
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
}

/** The footer: current state first (so a narrow terminal keeps it), then the keys. */
export function footerLine(view: TopView): string {
  const state = [
    `sort: ${sortLabel(view)}`,
    `job: ${view.jobFilter ?? 'all'}`,
    `every ${intervalLabel(view.intervalSeconds)}`,
    ...(view.paused ? ['PAUSED'] : []),
  ].join(' · ');
  return `${state} | ${TOP_KEYS}`;
}

function clip(line: string, columns: number): string {
  return line.length > columns ? line.slice(0, Math.max(0, columns)) : line;
}

/**
 * One interactive frame, exactly `rows` lines or fewer, none longer than `columns`:
 * header (or a conductor-down banner), jobs, as many processes as fit, footer last.
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
  const body: string[] = [];
  if (s) {
    body.push(...headerLines(s), ...jobLines(s, view.jobFilter));
    const procs = orderProcesses(s, view);
    // Room left for process rows: everything else, the table header and its blank line,
    // a possible "(n more)" line and the footer.
    const fixed = top.length + body.length + 2 + 1 + 1;
    const maxRows = Math.max(1, rows - fixed);
    body.push(...processLines(procs, maxRows));
    if (procs.length === 0 && view.jobFilter !== null) body.push(`(no processes of job ${view.jobFilter})`);
  }
  const lines = [...top, ...body].slice(0, rows - 1);
  lines.push(footerLine(view));
  return lines.map((l) => clip(l, screen.columns));
}

/** The jobs `j` cycles through: running jobs and jobs that own processes, sorted. */
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

export type KeyAction = { view: TopView; quit: boolean; refetch: boolean; reschedule: boolean };

/**
 * One key press. `refetch`: fetch now (on resume); `reschedule`: the interval changed.
 * Unknown keys change nothing.
 */
export function applyKey(view: TopView, key: string, jobs: readonly string[]): KeyAction {
  const same = { view, quit: false, refetch: false, reschedule: false };
  const sortBy = (sort: TopSort): KeyAction => (sort === view.sort ? same : { ...same, view: { ...view, sort, reverse: false } });
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
      return { ...same, view: { ...view, reverse: !view.reverse } };
    case 'j':
    case 'J':
      return { ...same, view: { ...view, jobFilter: nextJobFilter(view.jobFilter, jobs) } };
    case '+':
    case '=':
      return { ...same, view: { ...view, intervalSeconds: stepInterval(view.intervalSeconds, 1) }, reschedule: true };
    case '-':
    case '_':
      return { ...same, view: { ...view, intervalSeconds: stepInterval(view.intervalSeconds, -1) }, reschedule: true };
    case ' ':
      return { ...same, view: { ...view, paused: !view.paused }, refetch: view.paused };
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

function downReason(err: unknown): string {
  if (err instanceof ConductorNotRunning) return 'not running';
  if (err instanceof ConnectionClosed) return 'connection closed';
  if (err instanceof TimeoutError) return 'not answering';
  return (err as Error).message ?? String(err);
}

const ENTER = '\x1b[?1049h\x1b[?25l'; // alternate screen, cursor hidden
const LEAVE = '\x1b[0m\x1b[?25h\x1b[?1049l'; // attributes reset, cursor shown, main screen back

/** Interactive top on a terminal; resolves when the person quits. */
async function runInteractive(client: DaemonClient, opts: { intervalSeconds: number; sort: TopSort }): Promise<void> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const state: Omit<TopScreen, 'rows' | 'columns'> = {
    view: { sort: opts.sort, reverse: false, jobFilter: null, intervalSeconds: opts.intervalSeconds, paused: false },
    snapshot: null,
    down: null,
    notice: null,
    socketPath: client.socketPath,
  };
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  let lastFetch = 0;
  let finished = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      if (stdin.isTTY) stdin.setRawMode(false);
    } catch {
      // the terminal is gone
    }
    try {
      stdout.write(LEAVE);
    } catch {
      // the terminal is gone
    }
  };
  // Last resort (an uncaught error, process.exit elsewhere): the terminal must not stay raw.
  const onExit = () => restore();
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal !== 'SIGINT') process.exitCode = 128 + (signal === 'SIGTERM' ? 15 : 1);
    finish();
  };
  const onResize = () => draw();
  const onStdoutError = () => finish();
  const onKeys = (chunk: string) => {
    for (const key of splitKeys(chunk)) {
      if (finished) return;
      const action = applyKey(state.view, key, jobIds(state.snapshot));
      state.view = action.view;
      if (action.quit) return finish();
      if (action.refetch) void tick();
      else if (action.reschedule || state.view.paused) schedule();
      draw();
    }
  };

  function finish(): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    for (const [emitter, event, listener] of listeners) emitter.off(event, listener);
    restore();
    stdin.pause();
    resolveDone();
  }

  function draw(): void {
    if (finished) return;
    const lines = renderTopScreen({ ...state, rows: stdout.rows ?? 24, columns: stdout.columns ?? 80 });
    const footer = lines.pop()!;
    const styled = lines.map((l, i) => (i === 0 && state.down ? `\x1b[1;31m${l}\x1b[0m` : l));
    // Home, each line cleared to its end, the footer in reverse video, the rest of the screen cleared.
    stdout.write(`\x1b[H${styled.map((l) => `${l}\x1b[K\n`).join('')}\x1b[7m${footer}\x1b[K\x1b[0m\x1b[J`);
  }

  function schedule(): void {
    clearTimeout(timer);
    if (finished || state.view.paused || inFlight) return;
    const delay = Math.max(0, lastFetch + state.view.intervalSeconds * 1000 - Date.now());
    timer = setTimeout(() => void tick(), delay);
  }

  async function tick(): Promise<void> {
    if (finished || inFlight) return;
    clearTimeout(timer);
    inFlight = true;
    lastFetch = Date.now();
    // While the conductor is away the client waits for its reconnect: do not wait long.
    const timeoutMs = Math.min(3000, Math.max(1000, state.view.intervalSeconds * 1000));
    try {
      const snapshot = (await client.call('monitor.snapshot', {}, { timeoutMs })) as SystemSnapshot;
      if (!state.view.paused) {
        state.snapshot = snapshot;
        state.down = null;
        state.notice = null;
      }
    } catch (err) {
      if (!state.view.paused && !finished) {
        if (err instanceof RpcError) {
          state.down = null;
          state.notice = err.message;
        } else {
          state.down ??= { sinceEpochSeconds: Date.now() / 1000, reason: downReason(err) };
        }
      }
    } finally {
      inFlight = false;
    }
    if (finished) return;
    draw();
    schedule();
  }

  // Every listener this view adds, so finish() removes exactly these.
  const listeners: Array<[NodeJS.EventEmitter, string, Parameters<NodeJS.EventEmitter['on']>[1]]> = [
    [process, 'exit', onExit],
    [process, 'SIGINT', onSignal],
    [process, 'SIGTERM', onSignal],
    [process, 'SIGHUP', onSignal],
    [stdout, 'resize', onResize],
    [stdout, 'error', onStdoutError],
    [stdin, 'data', onKeys],
  ];
  for (const [emitter, event, listener] of listeners) emitter.on(event, listener);
  stdin.setEncoding('utf8');
  stdin.setRawMode(true);
  stdin.resume();
  stdout.write(ENTER);
  try {
    draw();
    void tick();
    await done;
  } finally {
    finish();
  }
}

/** Refresh until interrupted: interactive on a terminal, appending lines otherwise. */
export async function runTop(client: DaemonClient, opts: { intervalSeconds: number; sort: TopSort; once: boolean; json: boolean }): Promise<void> {
  if (!opts.once && !opts.json && process.stdout.isTTY && process.stdin.isTTY && typeof process.stdin.setRawMode === 'function') {
    return runInteractive(client, opts);
  }
  for (;;) {
    const snapshot = (await client.call('monitor.snapshot', {})) as SystemSnapshot;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(snapshot)}\n`);
    } else {
      const rows = Math.max(5, (process.stdout.rows ?? 40) - 12);
      const text = renderTop(snapshot, opts.sort, rows);
      process.stdout.write(process.stdout.isTTY && !opts.once ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
    }
    if (opts.once) return;
    await new Promise((r) => setTimeout(r, opts.intervalSeconds * 1000));
  }
}
