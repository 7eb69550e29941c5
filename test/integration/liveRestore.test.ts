/**
 * live_restore against real conductors and real processes: a 3-sheet job survives a graceful
 * restart and a kill -9 of the conductor during sheet 2 — every output line exactly once,
 * sheet 2's CPU and peak memory in the cost report, its exit code recorded, sheet 3 run. A
 * sheet that ends while no conductor runs is closed with its real exit code; a re-adopted
 * sheet's timeout still holds (the deadline is on disk), and so does its pause, over the
 * processes that escaped its group too.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { resolveRef, validateValue } from '../../src/ipc/schema.js';
import { CLI, makeHome, pidAlive, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { escapedSession, killEscaped, liveProcess, processState, readPidFile } from '../helpers/escaped.js';
import { eventsUntilEnd, sheetPid } from '../helpers/jobs.js';

const homes: string[] = [];
let conductor: RunningConductor | undefined;
let client: DaemonClient | undefined;
const sheetPids: number[] = [];
/** A conductor `mzt conductor restart` started in the background. */
let detachedPid: number | undefined;

afterEach(async () => {
  await client?.close().catch(() => undefined);
  client = undefined;
  await conductor?.stop();
  conductor = undefined;
  if (detachedPid !== undefined && pidAlive(detachedPid)) process.kill(detachedPid, 'SIGTERM');
  detachedPid = undefined;
});

afterAll(() => {
  killEscaped();
  for (const pid of sheetPids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* ended, as it should have */
    }
  }
  for (const home of homes) removeHome(home);
});

async function up(home: string): Promise<DaemonClient> {
  conductor = await startConductor(home, { config: { live_restore: true, kill_grace_seconds: 2, profiler_interval_seconds: 0.25 } });
  client = await DaemonClient.connect({ socketPath: conductor.socketPath });
  return client;
}

async function kill9(): Promise<void> {
  await client?.close().catch(() => undefined);
  client = undefined;
  await conductor!.kill9();
  conductor = undefined;
}

async function logText(c: DaemonClient, job_id: string): Promise<string> {
  const lines: string[] = [];
  for (let offset = 0; ; ) {
    const part = await c.call('job.logs', { job_id, offset, max_bytes: 1048576 });
    lines.push(...(part.lines as string[]));
    if (part.next_offset >= part.size || part.next_offset === offset) return lines.join('\n');
    offset = part.next_offset;
  }
}

async function events(c: DaemonClient, job_id: string): Promise<Array<{ type: string; sheet_num?: number; data: any }>> {
  return eventsUntilEnd(c, job_id, 60_000);
}

// Sheet 2: 600 numbered lines (every 50th also on stderr), ~15 ms of busy CPU each, holding 40 MB.
const SHEET2 = [
  'python3',
  '-c',
  [
    'import sys, time',
    "hold = b'x' * (40 << 20)",
    'for i in range(1, 601):',
    "    print(f'line-{i}', flush=True)",
    '    if i % 50 == 0: print(f\'err-{i}\', file=sys.stderr, flush=True)',
    '    t = time.time()',
    '    while time.time() - t < 0.015: pass',
  ].join('\n'),
];

describe('live_restore', () => {
  it('a 3-sheet job survives a graceful restart and a kill -9 during sheet 2: no line lost, costs and exit codes recorded', async () => {
    const home = makeHome('mzt-live-');
    homes.push(home);
    let c = await up(home);
    const { job_id } = await c.call('job.submit', {
      name: 'live',
      sheets: [{ argv: ['sh', '-c', 'echo one'] }, { argv: SHEET2 }, { argv: ['sh', '-c', 'echo three'] }],
    });
    const pid = await waitFor(async () => (await c.call('job.get', { job_id })).sheets[1]?.pid, 15_000, 'sheet 2 pid');
    sheetPids.push(pid);
    const seen = (n: number) => async () => new RegExp(` 2 out line-${n}$`, 'm').test(await logText(client!, job_id));

    await waitFor(seen(60), 20_000, 'line-60');
    // 1: `mzt conductor restart` (graceful stop, a new conductor in the background).
    await client!.close();
    const restart = await promisify(execFile)(process.execPath, [CLI, 'conductor', 'restart'], { env: { ...process.env, MZT_HOME: home } });
    expect(restart.stdout).toMatch(/conductor restarted \(pid \d+ → \d+\)/);
    await conductor!.exited;
    conductor = undefined;
    expect(pidAlive(pid)).toBe(true); // left running
    detachedPid = Number(fs.readFileSync(path.join(home, 'run', 'conductor.pid'), 'utf8'));
    client = c = await DaemonClient.connect({ socketPath: path.join(home, 'run', 'conductor.sock') });
    await waitFor(seen(250), 30_000, 'line-250 after the graceful restart');
    // 2: kill -9.
    await c.close();
    client = undefined;
    process.kill(detachedPid, 'SIGKILL');
    await waitFor(() => !pidAlive(detachedPid!), 10_000, 'the conductor to die');
    expect(pidAlive(pid)).toBe(true);
    c = await up(home);

    const all = await events(c, job_id);
    const types = all.map((e) => e.type);
    expect(types.at(-1)).toBe('job.completed');
    // Counted from the job's start under the first conductor, not from the last restart.
    const startedTs = all.find((e) => e.type === 'job.started')!.ts;
    expect(all.at(-1)!.data.duration_seconds).toBeGreaterThanOrEqual(all.at(-1)!.ts - startedTs - 1);
    const readopted = all.filter((e) => e.type === 'job.readopted');
    expect(readopted.length).toBe(2);
    console.log(`downtime: mzt conductor restart ${readopted[0]!.data.downtime_ms} ms, kill -9 + start ${readopted[1]!.data.downtime_ms} ms`);
    for (const e of readopted) {
      expect(e.sheet_num).toBe(2);
      expect(e.data.pid).toBe(pid);
      expect(e.data.downtime_ms).toBeGreaterThanOrEqual(0);
    }
    expect(types.filter((t) => t === 'job.started').length).toBe(1);
    for (const e of all) {
      expect(validateValue(`events.json#/events/${e.type}/data`, e.data), `${e.type} ${JSON.stringify(e.data)}`).toMatchObject({ ok: true });
    }
    const { tags } = resolveRef('events.json#/events/job.readopted') as unknown as { tags: string };
    expect(tags).toBe('sheet');
    expect(all.filter((e) => e.type === 'sheet.started').map((e) => e.sheet_num)).toEqual([1, 2, 3]);
    expect(all.filter((e) => e.type === 'sheet.completed').map((e) => e.sheet_num)).toEqual([1, 2, 3]);
    const exit2 = all.find((e) => e.type === 'process.exit' && e.sheet_num === 2 && !e.data.observed)!;
    expect(exit2.data).toMatchObject({ pid, exit_code: 0, signal: null });

    // Every line exactly once, in order, on its stream.
    const text = await logText(c, job_id);
    const out = text.split('\n').filter((l) => / 2 out line-\d+$/.test(l)).map((l) => Number(/line-(\d+)$/.exec(l)![1]));
    expect(out).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const err = text.split('\n').filter((l) => / 2 err err-\d+$/.test(l)).map((l) => Number(/err-(\d+)$/.exec(l)![1]));
    expect(err).toEqual(Array.from({ length: 12 }, (_, i) => (i + 1) * 50));
    expect(text).toMatch(/ 1 out one$/m);
    expect(text).toMatch(/ 3 out three$/m);
    expect(text.match(/sheet 2 re-adopted pid=\d+/g)?.length).toBe(2);

    // Sheet 2's costs: the re-adopted sheet is tagged by the profiler of each conductor.
    const endTs = all.at(-1)!.ts;
    await waitFor(async () => (await c.call('monitor.history', { since: endTs, limit: 10 })).snapshots.length >= 2, 30_000, 'two samples after the end');
    const report = await c.call('monitor.resource_report', { job_id });
    expect(report.sheet_metrics['2'].cpu_seconds).toBeGreaterThan(1);
    expect(report.sheet_metrics['2'].peak_rss_mb).toBeGreaterThan(35);

    // Nothing left behind: the sheet and its waiter are gone, and so is the job's live state.
    await waitFor(() => !pidAlive(pid), 10_000, 'sheet 2 gone');
    expect(fs.existsSync(`${home}/jobs/${job_id}/live`)).toBe(false);
  }, 120_000);

  it('closes a sheet that ended while no conductor ran with its real exit code', async () => {
    const home = makeHome('mzt-live-');
    homes.push(home);
    let c = await up(home);
    const marker = `${home}/ended`;
    const { job_id } = await c.call('job.submit', {
      name: 'ends-alone',
      sheets: [{ argv: ['sh', '-c', `echo before; sleep 1.5; echo after; touch ${marker}; exit 7`] }, { argv: ['true'] }],
    });
    const pid = await sheetPid(c, job_id, 15_000);
    sheetPids.push(pid);
    await kill9();
    await waitFor(() => fs.existsSync(marker) && !pidAlive(pid), 15_000, 'the sheet to end with no conductor');
    c = await up(home);
    const all = await events(c, job_id);
    expect(all.at(-1)!.type).toBe('job.failed');
    expect(all.at(-1)!.data.exit_code).toBe(7);
    expect(all.find((e) => e.type === 'sheet.failed')!.data).toMatchObject({ exit_code: 7, signal: null, reason: 'exit_code' });
    expect(all.some((e) => e.type === 'job.readopted')).toBe(true);
    const text = await logText(c, job_id);
    expect(text).toMatch(/ 1 out before$/m);
    expect(text).toMatch(/ 1 out after$/m);
  }, 60_000);

  it("enforces a re-adopted sheet's timeout from the deadline kept on disk", async () => {
    const home = makeHome('mzt-live-');
    homes.push(home);
    let c = await up(home);
    const started = Date.now();
    const { job_id } = await c.call('job.submit', { name: 'timeout', sheets: [{ argv: ['sleep', '60'], timeout_seconds: 6 }] });
    const pid = await sheetPid(c, job_id, 15_000);
    sheetPids.push(pid);
    await kill9();
    // 4 s with no conductor: a timeout counted from the adoption would end the sheet after
    // 4 + 6 s at least; the deadline on disk ends it at 6 s, or at the adoption if later.
    await new Promise((r) => setTimeout(r, 4000));
    expect(pidAlive(pid)).toBe(true);
    c = await up(home);
    const all = await events(c, job_id);
    expect(all.at(-1)!.type).toBe('job.failed');
    const failed = all.find((e) => e.type === 'sheet.failed')!;
    expect(failed.data).toMatchObject({ reason: 'timeout', signal: 'SIGTERM' });
    expect(all.some((e) => e.type === 'job.readopted')).toBe(true);
    expect(all.some((e) => e.type === 'process.kill' && e.data.reason === 'timeout')).toBe(true);
    expect(failed.data.duration_seconds).toBeGreaterThanOrEqual(5.9);
    expect(failed.data.duration_seconds).toBeLessThan(10);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(pidAlive(pid)).toBe(false);
  }, 60_000);

  it('keeps a paused sheet and its escaped process paused across a kill -9; resume and cancel then reach both', async () => {
    const home = makeHome('mzt-live-');
    homes.push(home);
    let c = await up(home);
    const escapedFile = path.join(home, 'escaped.pid');
    // The escaped process spins (state R), so a stop shows as T and a continue as R again.
    const escaper = `setsid -f sh -c 'echo $$ > ${escapedFile}; while :; do :; done' >/dev/null 2>&1`;
    const { job_id } = await c.call('job.submit', {
      name: 'paused',
      sheets: [{ argv: ['sh', '-c', `${escaper}; trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.2; done`] }],
    });
    const pid = await sheetPid(c, job_id, 15_000);
    sheetPids.push(pid);
    const escaped = await escapedSession(await readPidFile(escapedFile));
    await waitFor(async () => / 1 out ready$/m.test(await logText(c, job_id)), 10_000, 'ready');
    await c.call('job.pause', { job_id });
    await waitFor(() => processState(pid) === 'T', 10_000, 'stopped');
    await waitFor(() => processState(escaped) === 'T', 10_000, 'escaped process stopped');
    await kill9();
    c = await up(home);
    await waitFor(async () => (await c.call('job.get', { job_id })).status === 'paused', 10_000, 'paused after the restart');
    expect(processState(pid)).toBe('T');
    expect(processState(escaped)).toBe('T');
    await c.call('job.resume', { job_id });
    await waitFor(() => processState(pid) !== 'T', 10_000, 'continued');
    await waitFor(() => processState(escaped) !== 'T', 10_000, 'escaped process continued by the adopting conductor');
    await c.call('job.pause', { job_id });
    await waitFor(() => processState(escaped) === 'T', 10_000, 'escaped process stopped again');
    expect(await c.call('job.cancel', { job_id })).toMatchObject({ status: 'cancelled' });
    await waitFor(() => !liveProcess(escaped), 10_000, 'escaped process gone');
    const all = await events(c, job_id);
    expect(all.at(-1)!.type).toBe('job.cancelled');
    const types = all.map((e) => e.type);
    expect(types.indexOf('job.readopted')).toBeGreaterThan(types.indexOf('job.paused'));
    expect(types.filter((t) => t === 'job.paused').length).toBe(3); // before, re-applied after, and the second pause
    expect(all.find((e) => e.type === 'sheet.failed')!.data).toMatchObject({ reason: 'cancelled', exit_code: 0 });
    await waitFor(async () => / 1 out got-term$/m.test(await logText(c, job_id)), 5_000, 'the trap output');
  }, 60_000);

  it('records a sheet whose waiter was killed with an unknown exit status once the sheet is gone', async () => {
    const home = makeHome('mzt-live-');
    homes.push(home);
    const c = await up(home);
    const { job_id } = await c.call('job.submit', { name: 'waiterless', sheets: [{ argv: ['sleep', '2'] }] });
    const pid = await sheetPid(c, job_id, 15_000);
    sheetPids.push(pid);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const waiter = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    expect(fs.readFileSync(`/proc/${waiter}/cmdline`, 'utf8')).toMatch(/^mzt-waiter /);
    process.kill(waiter, 'SIGKILL');
    const all = await events(c, job_id);
    expect(all.at(-1)!.type).toBe('job.failed');
    expect(all.find((e) => e.type === 'sheet.failed')!.data).toMatchObject({ exit_code: null, signal: null, error: expect.stringMatching(/status unknown/) });
    expect(all.find((e) => e.type === 'sheet.failed')!.data.duration_seconds).toBeGreaterThanOrEqual(1.9);
  }, 60_000);
});
