/**
 * A live_restore sheet (run through a waiter) stops its escaped processes the way a plain sheet
 * does: the stop at cancel and the look at the sheet's end are rounds of one stop, so a process
 * still there at the second look is not signalled, nor recorded, again.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DurableEvent } from '../../src/events/types.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { escapedSession, killEscaped, liveProcess, readPidFile } from '../helpers/escaped.js';

const fixture = useConductor({ prefix: 'mzt-escaped-live-', config: { live_restore: true, kill_grace_seconds: 2 } });

// Registered after the fixture: runs before its teardown (after-hooks run in reverse).
afterAll(() => killEscaped());

async function escapedKills(jobId: string): Promise<Array<{ signal: string; pids: number[] }>> {
  const { events } = await fixture.client.call('events.read', { since: 0, job_id: jobId, types: ['process.kill'], limit: 1000 });
  return (events as DurableEvent[]).map((e) => e.data as any).filter((d) => d.reason === 'escaped_processes');
}

describe('escaped processes of a live_restore sheet', () => {
  it('a cancel SIGTERMs and SIGKILLs an escaped process once each, and records each once', async () => {
    const file = path.join(fixture.home, 'stubborn.pid');
    // It ignores SIGTERM (an ignored signal stays ignored across exec): still there when the
    // sheet's end looks for escaped processes again, until its SIGKILL after the grace period.
    const stubborn = `setsid -f sh -c 'trap "" TERM; echo $$ > ${file}; exec sleep 1000' >/dev/null 2>&1; exec sleep 1000`;
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', stubborn] }] });
    const escaped = await escapedSession(await readPidFile(file));

    await fixture.client.call('job.cancel', { job_id }, { timeoutMs: 60_000 });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'cancelled', 20_000, 'the job to be cancelled');
    await waitFor(() => !liveProcess(escaped), 15_000, `stubborn escaped process ${escaped} to be gone`);
    await waitFor(async () => (await escapedKills(job_id)).some((k) => k.signal === 'SIGKILL'), 10_000, 'the SIGKILL record');

    const kills = await escapedKills(job_id);
    expect(kills.filter((k) => k.signal === 'SIGTERM').flatMap((k) => k.pids)).toEqual([escaped]);
    expect(kills.filter((k) => k.signal === 'SIGKILL').flatMap((k) => k.pids)).toEqual([escaped]);
  });
});
