/**
 * `mzt top`'s job rows against a real conductor: the tree view (a job row with its totals above
 * its processes), 80 columns without a cut header, and cancel / pause of the selected job from
 * the keyboard — asked first, done only on `y` — on a real pseudo-terminal.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import { applyKey, headerLines, jobLines, orderProcesses, processLines, renderTopScreen, treeLines, type TopView } from '../../src/cli/top.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { ptyTop } from '../helpers/ptyTop.js';
import { sheetPid } from '../helpers/jobs.js';

const ctx = useConductor({ config: { profiler_interval_seconds: 0.25, kill_grace_seconds: 2 } });
let busy: { job_id: string; pid: number };

const BUSY = ['sh', '-c', 'sh -c "while :; do :; done" & while :; do sleep 0.2; done'];

beforeAll(async () => {
  const { job_id } = await ctx.client.call('job.submit', { name: 'top-busy-with-a-rather-long-name', sheets: [{ argv: BUSY }] });
  const pid = await sheetPid(ctx.client, job_id);
  busy = { job_id, pid };
  // Until its cost has a CPU% (two samples of the tree).
  const snap = () => ctx.client.call('monitor.snapshot', {}).then((s) => s as SystemSnapshot, () => undefined);
  await waitFor(async () => (await snap())?.job_costs.find((c) => c.job_id === job_id)?.cpu_percent, 10_000, 'job CPU%');
});

const VIEW: TopView = { sort: 'cpu', reverse: false, jobFilter: null, intervalSeconds: 1, paused: false };

describe('mzt top job rows', () => {
  it('the tree view puts the job row with its totals (from job_costs) above its processes, indented', async () => {
    const s = (await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot;
    const cost = s.job_costs.find((c) => c.job_id === busy.job_id)!;
    const lines = renderTopScreen({ view: { ...VIEW, tree: true }, snapshot: s, down: null, notice: null, socketPath: '/s', rows: 60, columns: 200 });
    const jobRow = lines.findIndex((l) => l.startsWith('JOB ') && l.includes(`▼ ${busy.job_id}`));
    expect(jobRow).toBeGreaterThan(0);
    expect(lines[jobRow]).toMatch(new RegExp(`\\s${cost.processes}p\\s`));
    expect(lines[jobRow]).toMatch(/running, sheet 1\/1 · cpu time \d/);
    // Its processes follow, the sheet leader first, its children under it (├─ / └─).
    expect(lines[jobRow + 1]).toMatch(new RegExp(`^${busy.pid}\\s`));
    expect(lines.slice(jobRow + 2, jobRow + 2 + cost.processes - 1).every((l) => /[├└]─ /.test(l))).toBe(true);
    // The conductor's own processes come last under their own row.
    expect(lines.some((l) => l.includes('▼ (no job: the conductor)'))).toBe(true);
  });

  it('80 columns: nothing longer, and no header line (machine lines, table headers) cut', async () => {
    const s = (await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot;
    for (const tree of [false, true]) {
      const wide = renderTopScreen({ view: { ...VIEW, tree }, snapshot: s, down: null, notice: null, socketPath: '/s', rows: 24, columns: 10_000 });
      const narrow = renderTopScreen({ view: { ...VIEW, tree }, snapshot: s, down: null, notice: null, socketPath: '/s', rows: 24, columns: 80 });
      // Laid out for 80 columns (not clipped to fit): the header lines and table headers are whole.
      const layout = [
        ...headerLines(s),
        ...jobLines(s, null, 80),
        ...(tree ? treeLines(s, { ...VIEW, tree }, 0, 80) : processLines(orderProcesses(s, VIEW), 0, 80)),
      ];
      const headers = (lines: string[]) => lines.filter((l) => /^(mzt top —|mem |pressure |PID )/.test(l) || /^JOB\s+STATUS/.test(l));
      expect(headers(layout).length).toBe(5);
      for (const l of headers(layout)) expect(l.length, `"${l}"`).toBeLessThanOrEqual(80);
      expect(headers(narrow).length).toBeGreaterThanOrEqual(4);
      expect(narrow.some((l) => /^PID\s+JOB\s+SHEET\s+S\s+CPU%\s+RSS MB\s+THR\s+AGE\s+COMMAND$/.test(l))).toBe(true);
      for (const l of narrow) expect(l.length).toBeLessThanOrEqual(80);
      expect(wide.some((l) => /^PID\s+PPID\s+JOB/.test(l))).toBe(true);
    }
  });

  it('x asks before cancelling; any other key keeps the job (pure)', () => {
    const jobs = ['a', 'b'];
    let v = applyKey(VIEW, 'x', jobs).view;
    expect(v.message).toMatch(/select a job/);
    v = applyKey(v, '\x1b[B', jobs).view;
    expect(v.selected).toBe('a');
    v = applyKey(v, '\x1b[B', jobs).view;
    expect(v.selected).toBe('b');
    const asked = applyKey(v, 'x', jobs);
    expect(asked.command).toBeUndefined();
    expect(asked.view.confirm).toEqual({ action: 'cancel', job_id: 'b' });
    const kept = applyKey(asked.view, 'n', jobs);
    expect(kept.command).toBeUndefined();
    expect(kept.view.confirm).toBeNull();
    expect(applyKey(asked.view, 'y', jobs).command).toEqual({ method: 'job.cancel', job_id: 'b' });
    expect(applyKey(v, 'z', jobs, () => 'paused').view.confirm).toEqual({ action: 'resume', job_id: 'b' });
  });

  it('on a terminal: t shows the tree, ↓ selects, z+y pauses, z+y resumes, x+n keeps, x+y cancels', async () => {
    const top = ptyTop(ctx.home, ['--interval', '0.5'], 24, 80);
    try {
      let f = await top.waitFrame((fr) => /^PID\s+JOB/m.test(fr), 'the 80-column table');
      // The pty ends lines with \r\n.
      for (const l of f.split('\n')) expect(l.replace(/\r$/, '').length, l).toBeLessThanOrEqual(80);
      top.send('t');
      f = await top.waitFrame((fr) => fr.includes(`▼ ${busy.job_id.slice(0, 10)}`) || fr.includes('▼ top-busy'), 'the tree view');
      top.send('\x1b[B');
      await top.waitFrame((fr) => fr.includes(`selected: ${busy.job_id}`) || />▼ /.test(fr), 'the job selected');
      top.send('z');
      await top.waitFrame((fr) => fr.includes(`press y to pause job ${busy.job_id}`), 'the pause question');
      top.send('y');
      await waitFor(async () => (await ctx.client.call('job.get', { job_id: busy.job_id })).status === 'paused', 10_000, 'paused');
      await top.waitFrame((fr) => fr.includes(`${busy.job_id}: paused`), 'the pause outcome');
      top.send('z');
      await top.waitFrame((fr) => fr.includes(`press y to resume job ${busy.job_id}`), 'the resume question');
      top.send('y');
      await waitFor(async () => (await ctx.client.call('job.get', { job_id: busy.job_id })).status === 'running', 10_000, 'running again');
      top.send('x');
      await top.waitFrame((fr) => fr.includes(`press y to cancel job ${busy.job_id}`), 'the cancel question');
      top.send('n');
      await top.waitFrame((fr) => fr.includes('cancel of') && fr.includes('not done'), 'kept');
      expect((await ctx.client.call('job.get', { job_id: busy.job_id })).status).toBe('running');
      top.send('x');
      await top.waitFrame((fr) => fr.includes(`press y to cancel job ${busy.job_id}`), 'asked again');
      top.send('y');
      await waitFor(async () => (await ctx.client.call('job.get', { job_id: busy.job_id })).status === 'cancelled', 15_000, 'cancelled');
      top.send('q');
      expect(await top.exited).toBe(0);
    } finally {
      top.proc.kill('SIGKILL');
    }
  });
});
