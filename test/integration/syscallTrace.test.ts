/**
 * `mzt trace` / job.trace against a real conductor and Debian's strace: a dd|cat loop shows
 * read/write on top, the trace is stored (monitor.trace) and shown by `mzt diagnose`; a process
 * that escaped the tree but the profiler tagged is traced too; bad
 * input and states are clear errors; strace is never left attached — after the trace, after
 * the job is cancelled mid-trace, after the conductor is stopped (and killed) mid-trace no
 * strace remains and no process of the tree is traced or stopped; strace missing from the
 * conductor's PATH and ptrace not permitted (CAP_SYS_PTRACE dropped, a non-dumpable job) say so.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { CLI, makeHome, pidAlive, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import { killEscaped, track } from '../helpers/escaped.js';
import { descendants, ensureStrace, readProc, tracersUnder } from '../helpers/strace.js';
import { rpcError, sheetPid } from '../helpers/jobs.js';

// Reads and writes as fast as it can: dd's read/write and cat's.
const IO_LOOP = ['sh', '-c', 'while :; do dd if=/dev/zero bs=4k count=256 2>/dev/null | cat > /dev/null; done'];
const SLEEPER = ['sh', '-c', 'while :; do sleep 0.2; done'];

// Registered before the fixture: strace is installed before the conductor starts.
beforeAll(() => ensureStrace(), 120_000);
const fixture = useConductor({ prefix: 'mzt-trace-', config: { kill_grace_seconds: 2 } });

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: fixture.home, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function submit(c: DaemonClient, argv: string[]): Promise<{ job_id: string; pid: number }> {
  const { job_id } = await c.call('job.submit', { name: 'trace-me', sheets: [{ argv }] });
  const pid = await sheetPid(c, job_id);
  return { job_id, pid };
}

/** No process of the tree is traced or stopped. */
function expectUntracedRunning(pids: number[]): void {
  const left = pids.map(readProc).filter((p) => p !== undefined && p.state !== 'Z');
  for (const p of left) {
    expect(p!.tracerPid, `pid ${p!.pid} (${p!.comm}) still traced`).toBe(0);
    expect(['T', 't'], `pid ${p!.pid} (${p!.comm}) left stopped`).not.toContain(p!.state);
  }
}

describe('mzt trace', () => {
  it('shows read and write on top for a dd|cat loop, stores monitor.trace and mzt diagnose shows it; nothing stays attached', async () => {
    const { job_id, pid } = await submit(fixture.client, IO_LOOP);
    const res = await cli(['trace', job_id, '--seconds', '2', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const trace = JSON.parse(res.stdout);
    expect(trace.job_id).toBe(job_id);
    expect(trace.ended_by).toBe('time');
    expect(trace.duration_seconds).toBeGreaterThanOrEqual(1.5);
    expect(trace.duration_seconds).toBeLessThan(10);
    expect(trace.pids_traced).toBeGreaterThanOrEqual(1);
    const top2 = trace.syscalls.slice(0, 2).map((r: { syscall: string }) => r.syscall).sort();
    expect(top2).toEqual(['read', 'write']);
    expect(trace.syscalls[0].calls).toBeGreaterThan(100);
    expect(trace.total_calls).toBeGreaterThanOrEqual(trace.syscalls[0].calls);

    // Detached: no strace under the conductor, and the loop's processes run on untraced.
    expect(tracersUnder(fixture.conductor.pid)).toEqual([]);
    expectUntracedRunning([pid, ...descendants(pid).map((p) => p.pid)]);
    expect(readProc(pid)).toBeDefined();

    const events = await fixture.client.call('events.read', { since: 0, job_id, types: ['monitor.trace'] });
    expect(events.events).toHaveLength(1);
    expect(events.events[0]!.seq).toBe(trace.seq);
    expect(events.events[0]!.sheet_num).toBe(1);

    const text = await cli(['trace', job_id, '--seconds', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/by count:\nSYSCALL\s+CALLS\s+SHARE\s+ERRORS\n(read|write)\s/);

    await fixture.client.call('job.cancel', { job_id });
    const diag = await cli(['diagnose', job_id]);
    expect(diag.code).toBe(0);
    expect(diag.stdout).toMatch(/Syscall trace at .*\(mzt trace\):\nsheet 1: \d+ process\(es\) traced for/);
    expect(diag.stdout).toMatch(/by time:/);
    const diagJson = JSON.parse((await cli(['diagnose', job_id, '--json'])).stdout);
    expect(diagJson.syscall_traces).toHaveLength(2);
    expect(diagJson.syscall_traces[0].syscalls.length).toBeGreaterThan(0);
  });

  it('traces a process that escaped the tree (setsid -f, reparented away) but that the profiler tagged with the job', async () => {
    const file = path.join(fixture.home, 'escaped.pid');
    const script = `setsid -f sh -c 'echo $$ > ${file}; while :; do dd if=/dev/zero bs=4k count=64 2>/dev/null | cat > /dev/null; done'; while :; do sleep 0.2; done`;
    const { job_id, pid } = await submit(fixture.client, ['sh', '-c', script]);
    const escaped = track(await waitFor(() => Number(fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim()) || 0, 10_000, 'escaped pid'));
    try {
      // Not a descendant of the sheet any more, and the profiler has tagged it with the job.
      await waitFor(() => readProc(escaped)?.ppid !== undefined && !descendants(pid).some((p) => p.pid === escaped), 10_000, 'reparented');
      await waitFor(async () => ((await fixture.client.call('monitor.snapshot', {}).catch(() => undefined)) as SystemSnapshot | undefined)?.processes.some((p) => p.pid === escaped && p.job_id === job_id), 10_000, 'tagged by the profiler');
      const pending = fixture.client.call('job.trace', { job_id, seconds: 2 }, { timeoutMs: 30_000 });
      await waitFor(() => (readProc(escaped)?.tracerPid ?? 0) !== 0, 10_000, 'strace attached to the escaped process');
      const trace = await pending;
      expect(trace.pids_traced).toBeGreaterThanOrEqual(3);
      expect(trace.syscalls.slice(0, 2).map((r) => r.syscall).sort()).toEqual(['read', 'write']);
      expectUntracedRunning([escaped]);
    } finally {
      await fixture.client.call('job.cancel', { job_id }).catch(() => undefined);
      killEscaped();
    }
  });

  it('a tree that makes no syscall (a pure CPU loop, its parent blocked in wait4) is a trace with none, not an error', async () => {
    const { job_id, pid } = await submit(fixture.client, ['sh', '-c', 'sh -c "while :; do :; done" & wait']);
    // The trace takes the tree as it is when called: wait until the loop's process is forked
    // (CI once traced the parent alone, before its fork).
    await waitFor(() => descendants(pid).length === 1, 10_000, 'the loop forked');
    const trace = await fixture.client.call('job.trace', { job_id, seconds: 1 }, { timeoutMs: 30_000 });
    expect(trace).toMatchObject({ ended_by: 'time', total_calls: 0, syscalls: [] });
    expect(trace.pids_traced).toBe(2);
    await fixture.client.call('job.cancel', { job_id });
  });

    it('answers bad input and states with clear errors, one trace per job at a time', async () => {
    expect((await rpcError(fixture.client.call('job.trace', { job_id: 'nope' }))).code).toBe(ErrorCode.JOB_NOT_FOUND);
    const tooLong = await rpcError(fixture.client.call('job.trace', { job_id: 'nope', seconds: 301 }));
    expect(tooLong.code).toBe(ErrorCode.INVALID_PARAMS);
    expect(tooLong.message).toMatch(/seconds/);
    expect((await rpcError(fixture.client.call('job.trace', { job_id: 'nope', seconds: 0 }))).code).toBe(ErrorCode.INVALID_PARAMS);
    const cliBad = await cli(['trace', 'x', '--seconds', '900']);
    expect(cliBad.code).toBe(2);
    expect(cliBad.stderr).toMatch(/--seconds must be more than 0 and at most 300/);

    const { job_id } = await submit(fixture.client, SLEEPER);
    const first = fixture.client.call('job.trace', { job_id, seconds: 2 }, { timeoutMs: 30_000 });
    const second = await rpcError(fixture.client.call('job.trace', { job_id, seconds: 1 }));
    expect(second.code).toBe(ErrorCode.INVALID_STATE);
    expect(second.message).toMatch(/a trace of job .* is already running/);
    expect((await first).ended_by).toBe('time');

    await fixture.client.call('job.pause', { job_id });
    const paused = await rpcError(fixture.client.call('job.trace', { job_id, seconds: 1 }));
    expect(paused.code).toBe(ErrorCode.INVALID_STATE);
    expect(paused.message).toMatch(/it is paused .*resume it first/);
    await fixture.client.call('job.resume', { job_id });
    await fixture.client.call('job.cancel', { job_id });
    const ended = await rpcError(fixture.client.call('job.trace', { job_id, seconds: 1 }));
    expect(ended.code).toBe(ErrorCode.INVALID_STATE);
    expect(ended.message).toMatch(/it is cancelled/);
  });

  it('cancelling the job mid-trace ends the trace early and leaves no strace', async () => {
    const { job_id, pid } = await submit(fixture.client, IO_LOOP);
    const pending = fixture.client.call('job.trace', { job_id, seconds: 60 }, { timeoutMs: 90_000 });
    await waitFor(() => (readProc(pid)?.tracerPid ?? 0) !== 0, 10_000, 'strace attached to the sheet');
    const tree = [pid, ...descendants(pid).map((p) => p.pid)];
    const t0 = Date.now();
    await fixture.client.call('job.cancel', { job_id }, { timeoutMs: 30_000 });
    const trace = await pending;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(trace.ended_by).toBe('processes_ended');
    expect(trace.duration_seconds).toBeLessThan(60);
    await waitFor(() => tracersUnder(fixture.conductor.pid).length === 0, 5_000, 'no strace under the conductor');
    await waitFor(() => tree.every((p) => !pidAlive(p) || readProc(p)?.state === 'Z'), 10_000, 'the cancelled tree gone');
  });

  it('strace missing from the conductor PATH: a clear NOT_AVAILABLE naming strace', async () => {
    // A PATH with what the job and the tracer's bound need, and no strace.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-nostrace-'));
    for (const tool of ['sh', 'sleep', 'timeout']) fs.symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
    const h = makeHome('mzt-trace-nopath-');
    const c = await startConductor(h, { env: { PATH: bin } });
    const cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      const { job_id } = await submit(cl, SLEEPER);
      const err = await rpcError(cl.call('job.trace', { job_id, seconds: 1 }));
      expect(err.code).toBe(ErrorCode.NOT_AVAILABLE);
      expect(err.message).toMatch(/strace is not installed .*apt-get install strace/);
      expect((err.data as { reason: string }).reason).toBe('strace_missing');
      const viaCli = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(process.execPath, [CLI, 'trace', job_id, '--seconds', '1'], { env: { ...process.env, MZT_HOME: h } }, (e, _o, stderr) =>
          resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stderr }),
        ),
      );
      expect(viaCli.code).toBe(1);
      expect(viaCli.stderr).toMatch(/^mzt: strace is not installed/m);
      expect((await cl.call('events.read', { since: 0, job_id, types: ['monitor.trace'] })).events).toEqual([]);
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('ptrace not permitted (no CAP_SYS_PTRACE, a non-dumpable job): a clear NOT_AVAILABLE, the job runs on', async () => {
    const h = makeHome('mzt-trace-eperm-');
    const c = await startConductor(h, { wrap: ['setpriv', '--bounding-set=-sys_ptrace', '--inh-caps=-sys_ptrace'] });
    const cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      // PR_SET_DUMPABLE 0: only CAP_SYS_PTRACE may trace it, which this conductor lacks.
      const nonDumpable = ['/usr/bin/python3', '-c', 'import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\nwhile True: time.sleep(0.2)'];
      const { job_id, pid } = await submit(cl, nonDumpable);
      await new Promise((r) => setTimeout(r, 500)); // past the prctl
      const err = await rpcError(cl.call('job.trace', { job_id, seconds: 1 }, { timeoutMs: 30_000 }));
      expect(err.code).toBe(ErrorCode.NOT_AVAILABLE);
      expect(err.message).toMatch(/^ptrace is not permitted: strace could not attach .*CAP_SYS_PTRACE/);
      expect((err.data as { reason: string }).reason).toBe('ptrace_denied');
      expect(tracersUnder(c.pid)).toEqual([]);
      expectUntracedRunning([pid]);
      expect((await cl.call('job.get', { job_id })).status).toBe('running');
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  });

  it('stopping the conductor mid-trace detaches strace first; the trace is recorded as stopped', async () => {
    const h = makeHome('mzt-trace-stop-');
    let c = await startConductor(h, { config: { kill_grace_seconds: 2 } });
    let cl = await DaemonClient.connect({ socketPath: c.socketPath });
    try {
      const { job_id, pid } = await submit(cl, IO_LOOP);
      const pending = cl.call('job.trace', { job_id, seconds: 120 }, { timeoutMs: 150_000 }).catch((e: unknown) => e);
      await waitFor(() => (readProc(pid)?.tracerPid ?? 0) !== 0, 10_000, 'strace attached');
      const tracers = tracersUnder(c.pid);
      expect(tracers.map((p) => p.comm).sort()).toEqual(['strace', 'timeout']);
      await c.stop();
      await pending;
      for (const t of tracers) expect(pidAlive(t.pid) && readProc(t.pid)?.state !== 'Z', `${t.comm} ${t.pid} left`).toBe(false);
      expect(c.output()).toMatch(/stopping 1 syscall trace\(s\)/);
      await cl.close();
      c = await startConductor(h);
      cl = await DaemonClient.connect({ socketPath: c.socketPath });
      const stored = (await cl.call('events.read', { since: 0, job_id, types: ['monitor.trace'] })).events;
      expect(stored).toHaveLength(1);
      expect(stored[0]!.data.ended_by).toBe('stopped');
      expect(stored[0]!.data.duration_seconds as number).toBeLessThan(60);
    } finally {
      await cl.close();
      await c.stop();
      removeHome(h);
    }
  });

  it('a conductor killed with -9 mid-trace: strace still ends at its bound and the tree runs on untraced', async () => {
    const h = makeHome('mzt-trace-kill-');
    const c = await startConductor(h);
    const cl = await DaemonClient.connect({ socketPath: c.socketPath });
    let tree: number[] = [];
    try {
      const { job_id, pid } = await submit(cl, SLEEPER);
      void cl.call('job.trace', { job_id, seconds: 3 }, { timeoutMs: 30_000 }).catch(() => undefined);
      await waitFor(() => (readProc(pid)?.tracerPid ?? 0) !== 0, 10_000, 'strace attached');
      tree = [pid, ...descendants(pid).map((p) => p.pid)];
      const tracers = tracersUnder(c.pid);
      expect(tracers.length).toBe(2);
      await c.kill9();
      // The `timeout` bound: SIGINT at 3 s, strace detaches; nothing waits on the dead conductor.
      await waitFor(() => tracers.every((t) => !pidAlive(t.pid) || readProc(t.pid)?.state === 'Z'), 15_000, 'strace gone after its bound');
      expect(pidAlive(pid)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expectUntracedRunning([pid]);
    } finally {
      await cl.close();
      // The orphaned sheet: its own group, started by this test.
      for (const p of tree) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      removeHome(h);
    }
  });
});
