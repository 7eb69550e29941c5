/**
 * Pause reaches the processes that left the sheet's group (`setsid -f`, found by the sheet's
 * environment marker): stopped with the group, continued by resume, and continued before the
 * SIGTERM of a cancel so that they can act on it. The same for a plain sheet and a live_restore
 * one (run through a waiter); liveRestore.test.ts takes the latter across a restart.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { escapedSession, killEscaped, liveProcess, processState, readPidFile, track } from '../helpers/escaped.js';
import { sheetPid } from '../helpers/jobs.js';

describe.each([
  { sheet: 'a plain sheet', config: {} },
  { sheet: 'a live_restore sheet', config: { live_restore: true } },
])('pause and escaped processes of $sheet', ({ config }) => {
  const fixture = useConductor({ prefix: 'mzt-pause-escaped-', config: { kill_grace_seconds: 2, ...config } });

  // Registered after the fixture: runs before its teardown (after-hooks run in reverse).
  afterAll(() => killEscaped());

  it('stops an escaped process with the tree, continues it on resume, and lets a cancel end it', async () => {
    const pidFile = path.join(fixture.home, 'escaped.pid');
    // The escaped process spins (state R), so a stop shows as T and a continue as R again.
    const { job_id } = await fixture.client.call('job.submit', {
      name: 'escaper',
      sheets: [{ argv: ['sh', '-c', `setsid -f sh -c 'echo $$ > ${pidFile}; while :; do :; done'; sleep 600`] }],
    });
    const pid = await escapedSession(await readPidFile(pidFile));
    const sheet = track(await sheetPid(fixture.client, job_id));
    await waitFor(() => processState(pid) === 'R', 10_000, 'escaped process running');

    await fixture.client.call('job.pause', { job_id });
    await waitFor(() => processState(pid) === 'T', 10_000, 'escaped process stopped');
    await new Promise((r) => setTimeout(r, 500));
    expect(processState(pid)).toBe('T');

    await fixture.client.call('job.resume', { job_id });
    await waitFor(() => processState(pid) !== 'T', 10_000, 'escaped process continued');

    await fixture.client.call('job.pause', { job_id });
    await waitFor(() => processState(pid) === 'T', 10_000, 'stopped again');
    await fixture.client.call('job.cancel', { job_id });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'cancelled', 15_000, 'cancelled');
    await waitFor(() => !liveProcess(pid), 10_000, 'escaped process gone');
    await waitFor(() => !liveProcess(sheet), 10_000, 'sheet gone');
  }, 60_000);
});
