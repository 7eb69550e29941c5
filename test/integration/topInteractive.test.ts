/**
 * `mzt top` on a terminal: keys change the view, `q` / Ctrl+C quit with the terminal restored.
 * The terminal is a real pseudo-terminal (python3's pty module relays it), the conductor a real
 * one running two jobs: one that burns CPU with little memory, one that holds memory idle.
 * The pure parts (frame rendering, key handling) are checked without a terminal.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import {
  applyKey,
  footerLine,
  jobIds,
  nextJobFilter,
  orderProcesses,
  renderTop,
  renderTopScreen,
  splitKeys,
  stepInterval,
  type TopView,
} from '../../src/cli/top.js';
import { CLI, makeHome, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';

import { ptyTop, type PtyTop } from '../helpers/ptyTop.js';

const ROWS = 40;

/** Process-table pids in display order. */
function tablePids(frame: string): number[] {
  const lines = frame.split('\n');
  const header = lines.findIndex((l) => l.startsWith('PID  '));
  if (header < 0) return [];
  const pids: number[] = [];
  for (const line of lines.slice(header + 1)) {
    const m = /^(\d+)\s/.exec(line);
    if (!m) break;
    pids.push(Number(m[1]));
  }
  return pids;
}

function footer(frame: string): string {
  const lines = frame.split('\n');
  return lines[lines.length - 1] ?? '';
}

function before(list: number[], a: number, b: number): boolean {
  return list.includes(a) && list.includes(b) && list.indexOf(a) < list.indexOf(b);
}

/** After `q`: exit 0, and the terminal as it was (settings, cursor, main screen). */
async function expectCleanExit(top: PtyTop): Promise<void> {
  const code = await top.exited;
  const out = top.output();
  expect(out).toMatch(/TOP_EXIT=0\b/);
  expect(code).toBe(0);
  const sttyBefore = /STTY_BEFORE=(\S+)/.exec(out)?.[1];
  const sttyAfter = /STTY_AFTER=(\S+)/.exec(out)?.[1];
  expect(sttyBefore).toBeTruthy();
  expect(sttyAfter).toBe(sttyBefore); // raw mode is off again
  expect(out.lastIndexOf('\x1b[?25h')).toBeGreaterThan(out.lastIndexOf('\x1b[?25l')); // cursor shown
  expect(out.lastIndexOf('\x1b[?1049l')).toBeGreaterThan(out.lastIndexOf('\x1b[?1049h')); // alternate screen left
}

// --- against a real conductor --------------------------------------------------------------

const ctx = useConductor({ config: { profiler_interval_seconds: 0.25 } });
let burnPid: number;
let hogPid: number;

beforeAll(async () => {
  const node = process.execPath;
  await ctx.client.call('job.submit', {
    job_id: 'top-burn',
    cwd: process.cwd(),
    sheets: [{ argv: [node, '-e', 'for (;;) {}'], timeout_seconds: 300 }],
  });
  await ctx.client.call('job.submit', {
    job_id: 'top-hog',
    cwd: process.cwd(),
    sheets: [{ argv: [node, '-e', 'const b = Buffer.alloc(400 * 1024 * 1024, 1); setInterval(() => b[0]++, 1000)'], timeout_seconds: 300 }],
  });
  // Both running, measured: the burner high on CPU, the hog high on memory.
  await waitFor(
    async () => {
      const s = (await ctx.client.call('monitor.snapshot', {}).catch(() => null)) as SystemSnapshot | null;
      const burn = s?.processes.find((p) => p.job_id === 'top-burn');
      const hog = s?.processes.find((p) => p.job_id === 'top-hog');
      if (!burn || !hog || (burn.cpu_percent ?? 0) < 50 || hog.rss_mb < 300) return false;
      burnPid = burn.pid;
      hogPid = hog.pid;
      return true;
    },
    20_000,
    'the burner and the hog to be measured',
  );
});

afterAll(async () => {
  // A rejected promise also when there is no client (the conductor never started): nothing to cancel then.
  for (const id of ['top-burn', 'top-hog']) await Promise.resolve().then(() => ctx.client.call('job.cancel', { job_id: id })).catch(() => undefined);
});

describe('mzt top on a terminal', () => {
  it('sorts, reverses, filters, changes the interval and pauses from the keyboard; q restores the terminal', async () => {
    const top = ptyTop(ctx.home, ['--interval', '0.5']);
    try {
      // Default: CPU order, the burner above the hog.
      let f = await top.waitFrame((fr) => before(tablePids(fr), burnPid, hogPid), 'the CPU-ordered table');
      expect(f).toMatch(/^mzt top — conductor pid \d+/m);
      expect(footer(f)).toMatch(/sort: cpu \(highest first\) · job: all · every 0\.5s \|/);
      expect(footer(f)).toMatch(/q quit/);
      expect(f.split('\n').length).toBeLessThanOrEqual(ROWS);

      top.send('m');
      f = await top.waitFrame((fr) => footer(fr).includes('sort: mem'), 'the mem sort');
      expect(before(tablePids(f), hogPid, burnPid)).toBe(true);

      top.send('r');
      f = await top.waitFrame((fr) => footer(fr).includes('sort: mem (lowest first)'), 'the reversed mem sort');
      expect(before(tablePids(f), burnPid, hogPid)).toBe(true);

      top.send('p');
      f = await top.waitFrame((fr) => footer(fr).includes('sort: pid (ascending)'), 'the pid sort');
      const pids = tablePids(f);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(pids).toEqual([...pids].sort((a, b) => a - b));

      // j: all → top-burn → top-hog → all.
      top.send('j');
      f = await top.waitFrame((fr) => footer(fr).includes('job: top-burn'), 'the top-burn filter');
      expect(tablePids(f)).toContain(burnPid);
      expect(tablePids(f)).not.toContain(hogPid);
      top.send('j');
      f = await top.waitFrame((fr) => footer(fr).includes('job: top-hog'), 'the top-hog filter');
      expect(tablePids(f)).toContain(hogPid);
      expect(tablePids(f)).not.toContain(burnPid);
      top.send('j');
      f = await top.waitFrame((fr) => footer(fr).includes('job: all'), 'no filter');
      expect(tablePids(f)).toEqual(expect.arrayContaining([burnPid, hogPid]));

      // +/-: bounded steps.
      top.send('+');
      await top.waitFrame((fr) => footer(fr).includes('every 1s'), 'interval 1s');
      top.send('---');
      await top.waitFrame((fr) => footer(fr).includes('every 0.5s'), 'interval back to its 0.5s floor');

      // space: paused, the frame stops changing (ages would move otherwise); the keys still work.
      top.send(' ');
      const paused = await top.waitFrame((fr) => footer(fr).includes('PAUSED'), 'paused');
      await new Promise((r) => setTimeout(r, 1500));
      expect(top.frame()).toBe(paused);
      top.send('m');
      f = await top.waitFrame((fr) => footer(fr).includes('sort: mem'), 'the mem sort while paused');
      expect(f).toMatch(/PAUSED/);
      expect(before(tablePids(f), hogPid, burnPid)).toBe(true);
      top.send(' ');
      await top.waitFrame((fr) => !footer(fr).includes('PAUSED'), 'resumed');

      top.send('q');
      await expectCleanExit(top);
    } finally {
      top.proc.kill('SIGKILL');
    }
  });

  it('Ctrl+C quits with exit 0 and the terminal restored', async () => {
    const top = ptyTop(ctx.home, []);
    try {
      await top.waitFrame((fr) => tablePids(fr).length > 0, 'a frame');
      top.send('\x03');
      await expectCleanExit(top);
    } finally {
      top.proc.kill('SIGKILL');
    }
  });

  it('says in the header when the conductor goes down, and still quits cleanly', async () => {
    const home = makeHome();
    const conductor = await startConductor(home, { config: { profiler_interval_seconds: 0.25 } });
    const top = ptyTop(home, ['--interval', '0.5']);
    try {
      await top.waitFrame((fr) => /^mzt top — conductor pid \d+/m.test(fr), 'a live frame');
      await conductor.stop();
      const f = await top.waitFrame((fr) => fr.startsWith('mzt top — CONDUCTOR DOWN'), 'the down header');
      expect(f.split('\n')[1]).toMatch(/mzt conductor start/);
      expect(f).toMatch(/stale/);
      // It comes back: so does the live header.
      const again = await startConductor(home, { config: { profiler_interval_seconds: 0.25 } });
      try {
        await top.waitFrame((fr) => fr.startsWith(`mzt top — conductor pid ${again.pid}`), 'the live header again', 20_000);
      } finally {
        await again.stop();
      }
      top.send('q');
      await expectCleanExit(top);
    } finally {
      top.proc.kill('SIGKILL');
      await conductor.stop();
      removeHome(home);
    }
  });

  it('with no conductor running: the one-line message and exit 3, terminal untouched', async () => {
    const empty = makeHome();
    const top = ptyTop(empty, []);
    try {
      await top.exited;
      const out = top.output();
      expect(out).toMatch(/mzt: conductor is not running .*mzt conductor start/);
      expect(out).toMatch(/TOP_EXIT=3\b/);
      expect(out).not.toContain('\x1b[?1049h');
      expect(/STTY_AFTER=(\S+)/.exec(out)?.[1]).toBe(/STTY_BEFORE=(\S+)/.exec(out)?.[1]);
    } finally {
      top.proc.kill('SIGKILL');
      removeHome(empty);
    }
  });
});

describe('mzt top piped', () => {
  function run(args: string[], stopAfterFirst: boolean): Promise<{ code: number | null; stdout: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [CLI, 'top', ...args], { env: { ...process.env, MZT_HOME: ctx.home }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      p.stdout.on('data', (d) => {
        stdout += d;
        if (stopAfterFirst && stdout.includes('COMMAND')) p.kill('SIGTERM');
      });
      p.on('close', (code) => resolve({ code, stdout }));
    });
  }

  it('--once prints plain text, no keys footer, no escape sequences', async () => {
    const r = await run(['--once', '--sort', 'mem'], false);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).not.toContain('q quit');
    expect(before(tablePids(r.stdout), hogPid, burnPid)).toBe(true);
  });

  it('without --once appends snapshots as before (no alternate screen, no raw mode)', async () => {
    const r = await run(['--interval', '0.5'], true);
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).toMatch(/^mzt top — conductor pid \d+/);
  });

  it('--json prints snapshot JSON lines', async () => {
    const r = await run(['--once', '--json'], false);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).processes.length).toBeGreaterThanOrEqual(2);
  });
});

// --- the pure parts --------------------------------------------------------------------------

function proc(pid: number, cpu: number | null, rss: number, job: string | null): SystemSnapshot['processes'][number] {
  return { pid, ppid: 1, command: `cmd-${pid}`, state: 'R', cpu_percent: cpu, rss_mb: rss, vms_mb: rss, threads: 1, open_fds: 3, age_seconds: 10, job_id: job, sheet_num: job ? 1 : null };
}

const SNAP: SystemSnapshot = {
  timestamp: 1_700_000_000,
  daemon_pid: 42,
  system_memory_total_mb: 1000,
  system_memory_available_mb: 400,
  system_memory_used_mb: 600,
  daemon_rss_mb: 50,
  daemon_cpu_percent: 1,
  load_avg_1: 0.5,
  load_avg_5: 0.4,
  load_avg_15: 0.3,
  cpu_count: 2,
  system_cpu_percent: 30,
  processes: [proc(30, 90, 10, 'a'), proc(10, 5, 500, 'b'), proc(20, null, 50, 'a'), proc(40, 1, 1, null)],
  gpus: [],
  pressure_level: 'low',
  running_jobs: 2,
  active_sheets: 3,
  zombie_count: 0,
  zombie_pids: [],
  job_progress: [
    { job_id: 'b', total_sheets: 1, last_completed_sheet: 0, current_sheet: 1, status: 'running' },
    { job_id: 'a', total_sheets: 2, last_completed_sheet: 1, current_sheet: 2, status: 'running' },
  ],
  conductor_uptime_seconds: 100,
  conductor: {
    cpu_percent: 1,
    rss_mb: 50,
    sample_cost_ms: 1,
    sample_duration_ms: 1,
    sample_blocking_ms: null,
    event_loop_delay_p99_ms: 1,
    event_loop_delay_max_ms: 1,
    interval_seconds: 1,
  },
};

const VIEW: TopView = { sort: 'cpu', reverse: false, jobFilter: null, intervalSeconds: 2, paused: false };

describe('top rendering and keys (pure)', () => {
  it('orders processes by cpu, mem, pid, reversed, and by job filter', () => {
    const pids = (v: Partial<TopView>) => orderProcesses(SNAP, { ...VIEW, ...v }).map((p) => p.pid);
    expect(pids({ sort: 'cpu' })).toEqual([30, 10, 40, 20]); // unknown CPU last
    expect(pids({ sort: 'mem' })).toEqual([10, 20, 30, 40]);
    expect(pids({ sort: 'pid' })).toEqual([10, 20, 30, 40]);
    expect(pids({ sort: 'pid', reverse: true })).toEqual([40, 30, 20, 10]);
    expect(pids({ sort: 'mem', reverse: true })).toEqual([40, 30, 20, 10]);
    expect(pids({ sort: 'cpu', jobFilter: 'a' })).toEqual([30, 20]);
  });

  it('the non-interactive text has no footer and is unchanged by the view state', () => {
    const text = renderTop(SNAP, 'mem', 10);
    expect(text).not.toContain('q quit');
    expect(tablePids(text)).toEqual([10, 20, 30, 40]);
    expect(renderTop(SNAP, 'cpu', 2)).toMatch(/\(2 more processes\)$/);
  });

  it('a frame fits the terminal and ends with the footer', () => {
    const lines = renderTopScreen({ view: VIEW, snapshot: SNAP, down: null, notice: null, socketPath: '/s', rows: 12, columns: 50 });
    expect(lines.length).toBeLessThanOrEqual(12);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(50);
    expect(lines[lines.length - 1]).toMatch(/^sort: cpu \(highest first\) · job: all · every 2s/);
    expect(lines.some((l) => /more processes/.test(l))).toBe(true);
    const roomy = renderTopScreen({ view: { ...VIEW, jobFilter: 'a', paused: true }, snapshot: SNAP, down: null, notice: null, socketPath: '/s', rows: 40, columns: 200 });
    expect(tablePids(roomy.join('\n'))).toEqual([30, 20]);
    expect(roomy.join('\n')).not.toMatch(/^b\s+running/m); // the progress table is filtered too
    expect(roomy[roomy.length - 1]).toMatch(/job: a · every 2s · PAUSED \|/);
  });

  it('says CONDUCTOR DOWN first, and waits for a first snapshot', () => {
    const down = renderTopScreen({ view: VIEW, snapshot: SNAP, down: { sinceEpochSeconds: 1_700_000_100, reason: 'timeout' }, notice: null, socketPath: '/run/c.sock', rows: 40, columns: 300 });
    expect(down[0]).toMatch(/^mzt top — CONDUCTOR DOWN since \d\d:\d\d:\d\d \(timeout\)/);
    expect(down[1]).toMatch(/no answer on \/run\/c\.sock · start it with: mzt conductor start/);
    expect(down[2]).toMatch(/stale/);
    const none = renderTopScreen({ view: VIEW, snapshot: null, down: null, notice: null, socketPath: '/s', rows: 40, columns: 200 });
    expect(none[0]).toMatch(/waiting for the first snapshot/);
    expect(none).toHaveLength(2);
  });

  it('keys: sort, reverse, job cycle, bounded interval, pause, quit', () => {
    const jobs = jobIds(SNAP);
    expect(jobs).toEqual(['a', 'b']);
    expect(applyKey(VIEW, 'm', jobs).view.sort).toBe('mem');
    expect(applyKey(VIEW, 'p', jobs).view.sort).toBe('pid');
    expect(applyKey({ ...VIEW, sort: 'cpu', reverse: true }, 'o', jobs).view).toMatchObject({ sort: 'job', reverse: false });
    expect(applyKey({ ...VIEW, sort: 'mem', reverse: true }, 'c', jobs).view).toMatchObject({ sort: 'cpu', reverse: false });
    expect(applyKey(VIEW, 'r', jobs).view.reverse).toBe(true);
    let v = VIEW;
    const seen: (string | null)[] = [];
    for (let i = 0; i < 3; i++) seen.push((v = applyKey(v, 'j', jobs).view).jobFilter);
    expect(seen).toEqual(['a', 'b', null]);
    expect(nextJobFilter('gone', jobs)).toBeNull();
    expect(nextJobFilter(null, [])).toBeNull();
    v = VIEW;
    for (let i = 0; i < 20; i++) v = applyKey(v, '+', jobs).view;
    expect(v.intervalSeconds).toBe(30);
    for (let i = 0; i < 20; i++) v = applyKey(v, '-', jobs).view;
    expect(v.intervalSeconds).toBe(0.5);
    expect(stepInterval(2.5, 1)).toBe(3);
    expect(stepInterval(2.5, -1)).toBe(2);
    expect(stepInterval(60, -1)).toBe(30);
    const paused = applyKey(VIEW, ' ', jobs);
    expect(paused.view.paused).toBe(true);
    expect(applyKey(paused.view, ' ', jobs)).toMatchObject({ refetch: true, view: { paused: false } });
    expect(applyKey(VIEW, 'q', jobs).quit).toBe(true);
    expect(applyKey(VIEW, '\x03', jobs).quit).toBe(true);
    expect(applyKey(VIEW, '\x1b[5~', jobs)).toMatchObject({ quit: false, view: VIEW });
    expect(splitKeys('mr\x1b[Aq')).toEqual(['m', 'r', '\x1b[A', 'q']);
    expect(footerLine({ ...VIEW, sort: 'pid', reverse: true })).toMatch(/^sort: pid \(descending\)/);
  });
});
