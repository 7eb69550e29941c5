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
import { renderTop, renderTopScreen, type TopScreen } from './topRender.js';
import { applyKey, jobIds, splitKeys, type JobCommand, type TopSort } from './topView.js';

// The pure parts live in topView.ts (state, keys) and topRender.ts (lines); tests import them from here.
export { headerLines, jobLines, orderProcesses, processLines, renderTop, renderTopScreen, treeLines, type TopScreen } from './topRender.js';
export { applyKey, footerLine, jobIds, nextJobFilter, splitKeys, stepInterval, TOP_KEYS, type KeyAction, type TopSort, type TopView } from './topView.js';

function downReason(err: unknown): string {
  if (err instanceof ConductorNotRunning) return 'not running';
  if (err instanceof ConnectionClosed) return 'connection closed';
  if (err instanceof TimeoutError) return 'not answering';
  return (err as Error).message ?? String(err);
}

const ENTER = '\x1b[?1049h\x1b[?25l'; // alternate screen, cursor hidden
const LEAVE = '\x1b[0m\x1b[?25h\x1b[?1049l'; // attributes reset, cursor shown, main screen back

/** Interactive top on a terminal; resolves when the person quits. */
async function runInteractive(client: DaemonClient, opts: { intervalSeconds: number; sort: TopSort; tree: boolean }): Promise<void> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const state: Omit<TopScreen, 'rows' | 'columns'> = {
    view: { sort: opts.sort, reverse: false, jobFilter: null, intervalSeconds: opts.intervalSeconds, paused: false, tree: opts.tree },
    snapshot: null,
    down: null,
    notice: null,
    socketPath: client.socketPath,
  };
  let timer: NodeJS.Timeout | undefined;
  const commanded = new Map<string, { status: string; at: number }>();
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
      // A status this view just set wins over a snapshot sampled before it (z right after z+y).
      const statusOf = (id: string) => {
        const mine = commanded.get(id);
        if (mine && (!state.snapshot || mine.at > state.snapshot.timestamp)) return mine.status;
        return state.snapshot?.job_progress.find((j) => j.job_id === id)?.status;
      };
      const action = applyKey(state.view, key, jobIds(state.snapshot), statusOf);
      state.view = action.view;
      if (action.quit) return finish();
      if (action.command) void send(action.command);
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

  /** A confirmed cancel/pause/resume: its outcome shows above the footer, then a fresh frame. */
  async function send(command: JobCommand): Promise<void> {
    try {
      const res = (await client.call(command.method, { job_id: command.job_id }, { timeoutMs: 120_000 })) as { status: string };
      commanded.set(command.job_id, { status: res.status, at: Date.now() / 1000 });
      state.view = { ...state.view, message: `${command.job_id}: ${res.status}` };
    } catch (err) {
      state.view = { ...state.view, message: `${command.method} ${command.job_id} failed: ${(err as Error).message}` };
    }
    void tick();
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
export async function runTop(client: DaemonClient, opts: { intervalSeconds: number; sort: TopSort; once: boolean; json: boolean; tree?: boolean }): Promise<void> {
  if (!opts.once && !opts.json && process.stdout.isTTY && process.stdin.isTTY && typeof process.stdin.setRawMode === 'function') {
    return runInteractive(client, { ...opts, tree: !!opts.tree });
  }
  for (;;) {
    const snapshot = (await client.call('monitor.snapshot', {})) as SystemSnapshot;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(snapshot)}\n`);
    } else {
      const rows = Math.max(5, (process.stdout.rows ?? 40) - 12);
      const text = renderTop(snapshot, opts.sort, rows, !!opts.tree, process.stdout.isTTY ? (process.stdout.columns ?? Infinity) : Infinity);
      process.stdout.write(process.stdout.isTTY && !opts.once ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
    }
    if (opts.once) return;
    await new Promise((r) => setTimeout(r, opts.intervalSeconds * 1000));
  }
}
