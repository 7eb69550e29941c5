/**
 * kill -9 of the conductor mid-job: after a restart the job is `interrupted`, every event
 * committed before the kill is still there, seqs are gap-free, and a client that resumes
 * from its last seq gets exactly the events it missed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { collectUntil, expectGapFree } from '../helpers/collect.js';
import { makeHome, pidAlive, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { readAllEvents } from '../helpers/jobs.js';

const home = makeHome();
let conductor: RunningConductor | undefined;

afterAll(async () => {
  await conductor?.stop();
  removeHome(home);
});

describe('crash recovery', () => {
  it('closes interrupted jobs, keeps every committed event, and resumes clients without gaps', async () => {
    conductor = await startConductor(home);
    const pidFile = path.join(home, 'sheet.pid');
    let client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const { job_id } = await client.call('job.submit', {
      name: 'long',
      sheets: [{ argv: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 60`] }],
    });
    await client.call('job.submit', { job_id: 'quick', sheets: [{ argv: ['true'] }] });

    // A watcher that will live through the crash.
    const watcher = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: { maxDelayMs: 200 } });
    const stream = watcher.subscribe({ since: 0 });
    const beforeCrash = await collectUntil(stream, (e) => e.type === 'sheet.started' && e.job_id === job_id);
    const sheetPid = await waitFor(() => {
      try {
        return Number(fs.readFileSync(pidFile, 'utf8')) || 0;
      } catch {
        return 0;
      }
    });
    await waitFor(async () => (await client.call('job.get', { job_id: 'quick' })).status === 'completed');
    const committed = await readAllEvents(client);
    await client.close();

    await conductor.kill9();
    conductor = await startConductor(home);

    client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const after = await readAllEvents(client);
    // Nothing committed before the kill is lost, and the log is gap-free from 1.
    expect(after.slice(0, committed.length)).toEqual(committed);
    expectGapFree(after.map((e) => e.seq!));
    expect(after[0]!.seq).toBe(1);

    const interrupted = after.find((e) => e.type === 'job.interrupted' && e.job_id === job_id)!;
    expect(interrupted.data).toMatchObject({ reason: 'conductor_restarted', previous_status: 'running' });
    expect((await client.call('job.get', { job_id })).status).toBe('interrupted');
    expect((await client.call('job.get', { job_id: 'quick' })).status).toBe('completed');
    // The orphaned sheet's process group is not left running.
    await waitFor(() => !pidAlive(sheetPid), 10_000, 'orphaned sheet to be killed');

    // The watcher reconnected by itself and resumed from its last seq: together, what it saw
    // before and after the crash is exactly the log, once each.
    const rest = await collectUntil(stream, (e) => e.type === 'daemon.started' && e.seq! > committed.length);
    const seen = [...beforeCrash, ...rest].map((e) => e.seq!);
    expect(seen).toEqual(after.slice(0, seen.length).map((e) => e.seq!));
    expect(new Set(seen).size).toBe(seen.length);

    await watcher.close();
    await client.close();
  });
});
