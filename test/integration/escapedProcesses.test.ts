/**
 * Processes that escape a sheet's process group or session (`setsid`) and keep its stdout/stderr
 * open: the sheet still ends when its main process does (pipes drained for a short bound, then
 * cut, and the log says so), cancel, timeout and shutdown are enforced, and the escaped
 * processes are stopped — recorded as `process.kill` reason `escaped_processes`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import type { DurableEvent } from '../../src/events/types.js';
import { makeHome, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { escapedSession, killEscaped, liveProcess, readPidFile } from '../helpers/escaped.js';

const fixture = useConductor({ client: { reconnect: false }, config: { kill_grace_seconds: 1 } });
let n = 0;
const pidFile = () => path.join(fixture.home, `escaped-${++n}.pid`);

afterAll(() => killEscaped());

async function status(jobId: string): Promise<string> {
  return (await fixture.client.call('job.get', { job_id: jobId })).status;
}

async function kills(jobId: string): Promise<Record<string, unknown>[]> {
  const { events } = await fixture.client.call('events.read', { since: 0, job_id: jobId, types: ['process.kill'], limit: 1000 });
  return (events as DurableEvent[]).map((e) => e.data);
}

describe('escaped processes', () => {
  it('a sheet whose main process exits ends although an escaped process holds its pipes; that process is stopped', async () => {
    const file = pidFile();
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', `setsid sleep 1000 & echo $! > ${file}; echo hi; sleep 0.5; exit 0`] }] });
    const escaped = await escapedSession(await readPidFile(file));
    await waitFor(async () => (await status(job_id)) === 'completed', 20_000, 'the job to complete');
    await waitFor(() => !liveProcess(escaped), 10_000, `escaped sleep ${escaped} to be gone`);
    const { lines } = await fixture.client.call('job.logs', { job_id });
    expect(lines.join('\n')).toContain(' out hi');
    expect((await kills(job_id)).find((k) => k.reason === 'escaped_processes')).toMatchObject({ signal: 'SIGTERM', pids: [escaped], count: 1 });
  });

  it('an escaped process that cleared its environment is found by what the profiler saw of the tree', async () => {
    const file = pidFile();
    // The subshell is sampled in the tree while it sleeps (profiler interval 1 s), then leaves the
    // session with an empty environment; the main shell exits after it escaped.
    const script = `(sleep 2.5; exec setsid env -i sleep 1000) & echo $! > ${file}; sleep 4; exit 0`;
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', script] }] });
    const escaped = await readPidFile(file);
    await waitFor(async () => (await status(job_id)) === 'completed', 25_000, 'the job to complete');
    await waitFor(() => !liveProcess(escaped), 10_000, `escaped sleep ${escaped} to be gone`);
    expect((await kills(job_id)).some((k) => k.reason === 'escaped_processes')).toBe(true);
  });

  it('output of a process nobody can find is cut after the drain bound, and the log says so', async () => {
    // No marker (env -i) and never sampled in the tree (`setsid -f` forks and reparents it to init
    // at once): only the drain bound ends the sheet. The sheet waits for the pid file: exiting
    // first would let the leftover path stop the child before its setsid, as a group member.
    const file = pidFile();
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', `setsid -f env -i sh -c 'echo $$ > ${file}; exec sleep 1000'; while [ ! -s ${file} ]; do sleep 0.05; done; exit 0`] }],
    });
    const escaped = await readPidFile(file);
    try {
      await waitFor(async () => (await status(job_id)) === 'completed', 20_000, 'the job to complete');
      const { lines } = await fixture.client.call('job.logs', { job_id });
      expect(lines.join('\n')).toMatch(/ sys output of sheet 1 cut: /);
    } finally {
      if (liveProcess(escaped)) process.kill(escaped, 'SIGKILL');
    }
  });

  it('cancel answers promptly and stops the sheet and its escaped process', async () => {
    const file = pidFile();
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', `setsid sleep 1000 & echo $! > ${file}; exec sleep 1000`] }] });
    const escaped = await escapedSession(await readPidFile(file));
    const main = (await fixture.client.call('job.get', { job_id })).sheets?.[0]?.pid as number | undefined;
    const started = Date.now();
    await fixture.client.call('job.cancel', { job_id }, { timeoutMs: 60_000 });
    const tookMs = Date.now() - started;
    expect(tookMs).toBeLessThan(15_000);
    expect(await status(job_id)).toBe('cancelled');
    await waitFor(() => !liveProcess(escaped), 10_000, `escaped sleep ${escaped} to be gone`);
    if (main) expect(liveProcess(main)).toBe(false);
    expect((await kills(job_id)).filter((k) => k.reason === 'escaped_processes').map((k) => k.signal)).toContain('SIGTERM');
  });

  it('a 1 s timeout is enforced although an escaped process holds the pipes', async () => {
    const file = pidFile();
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', `setsid sleep 1000 & echo $! > ${file}; sleep 1000`], timeout_seconds: 1 }],
    });
    const escaped = await escapedSession(await readPidFile(file));
    await waitFor(async () => (await status(job_id)) === 'failed', 20_000, 'the job to fail by timeout');
    expect((await fixture.client.call('job.get', { job_id })).reason).toBe('timeout');
    await waitFor(() => !liveProcess(escaped), 10_000, `escaped sleep ${escaped} to be gone`);
  });
});

describe('conductor shutdown with an escaped process', () => {
  const home = makeHome();
  afterAll(() => {
    killEscaped();
    removeHome(home);
  });

  it('SIGTERM stops the conductor promptly and the escaped process with it', async () => {
    const conductor = await startConductor(home, { config: { kill_grace_seconds: 1 } });
    const c = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const file = path.join(home, 'escaped.pid');
    await c.call('job.submit', { sheets: [{ argv: ['sh', '-c', `setsid sleep 1000 & echo $! > ${file}; sleep 1000`] }] });
    const escaped = await escapedSession(await readPidFile(file));
    await c.close();
    const started = Date.now();
    process.kill(conductor.pid, 'SIGTERM');
    const timer = setTimeout(() => conductor.proc.kill('SIGKILL'), 20_000);
    const { code } = await conductor.exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    await waitFor(() => !liveProcess(escaped), 10_000, `escaped sleep ${escaped} to be gone`);
    expect(fs.existsSync(conductor.socketPath)).toBe(false);
  });

  it('an escaped process that ignores SIGTERM gets its SIGKILL before the conductor exits', async () => {
    // A grace period longer than the rest of the shutdown, and no pipe held (nothing else waits).
    const conductor = await startConductor(home, { config: { kill_grace_seconds: 3 } });
    const c = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const file = path.join(home, 'stubborn.pid');
    const stubborn = `setsid sh -c 'trap "" TERM; echo $$ > ${file}; while :; do sleep 1; done' >/dev/null 2>&1 & sleep 1000`;
    await c.call('job.submit', { sheets: [{ argv: ['sh', '-c', stubborn] }] });
    const escaped = await escapedSession(await readPidFile(file));
    await c.close();
    process.kill(conductor.pid, 'SIGTERM');
    const timer = setTimeout(() => conductor.proc.kill('SIGKILL'), 20_000);
    const { code } = await conductor.exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    // Gone by the time the conductor has exited (a moment for the kernel to deliver it).
    await waitFor(() => !liveProcess(escaped), 1000, `stubborn escaped shell ${escaped} to be gone`);
  });
});
