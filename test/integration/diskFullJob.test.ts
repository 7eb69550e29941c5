/**
 * A job that ends while the disk is full (a real 16 MB tmpfs, filled with dd): its end is kept
 * and recorded, in order, once space returns; health is not ready meanwhile, and a cancel of
 * the ended job says so instead of hanging. A job cancelled meanwhile is stopped at once and
 * recorded cancelled once space returns.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { expectGapFree } from '../helpers/collect.js';
import { pidAlive, startConductor, waitFor } from '../helpers/conductorProcess.js';
import { fillUntilRefused, useSmallDisk } from '../helpers/smallDisk.js';
import { readAllEvents } from '../helpers/jobs.js';

const rig = useSmallDisk();

describe('a job that ends while the disk is full', () => {
  it('is recorded completed/failed, in order, once space returns; health is not ready until then', async () => {
    const home = rig.mountHome();
    const disk = rig.disk;
    const conductor = (rig.conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' } }));
    const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });

    const go = path.join(rig.gate, 'go');
    const { job_id } = await client.call('job.submit', {
      name: 'ends-on-full-disk',
      sheets: [
        { argv: ['sh', '-c', `while [ ! -e ${go} ]; do sleep 0.05; done; exit 0`] },
        { argv: ['sh', '-c', 'exit 3'] },
      ],
    });
    await waitFor(async () => (await client.call('job.get', { job_id })).sheets[0].status === 'running', 15_000, 'sheet 1 running');
    // A second job, cancelled while the disk is full.
    const sleeper = await client.call('job.submit', { name: 'cancelled-on-full-disk', sheets: [{ argv: ['sleep', '1000'] }] });
    const sleeperPid = await waitFor(async () => (await client.call('job.get', { job_id: sleeper.job_id })).sheets[0].pid as number, 15_000, 'sleeper running');

    const refused = await fillUntilRefused(client, disk);
    expect(refused.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    disk.fill();

    // The job ends now: sheet 1 completes, sheet 2 fails, the job fails — none of it committable.
    fs.writeFileSync(go, '');
    // Both sheets end (nothing of the job runs), yet the log cannot say so.
    await waitFor(async () => (await client.call('daemon.status', {})).running_jobs === 1, 20_000, 'the job to end (the sleeper runs on)');
    const held = await client.call('daemon.health', {});
    expect(held.ready).toBe(false);
    expect((await client.call('job.get', { job_id })).status).toBe('running');
    const cancel = await client.call('job.cancel', { job_id }).catch((e: RpcError) => e);

    // Its processes are stopped; the answer says the cancellation is not recorded yet.
    const cancelled = await client.call('job.cancel', { job_id: sleeper.job_id }).catch((e: RpcError) => e);
    const sleeperStopped = !pidAlive(sleeperPid);

    // Space returns: the held ends are recorded, and health becomes ready.
    const freedAt = Date.now();
    disk.free();
    await waitFor(async () => (await client.call('job.get', { job_id })).status === 'failed', 30_000, 'the job to be recorded as failed');
    const recoveredMs = Date.now() - freedAt;
    await waitFor(async () => (await client.call('job.get', { job_id: sleeper.job_id })).status === 'cancelled', 30_000, 'the cancelled job to be recorded');
    await waitFor(async () => (await client.call('daemon.health', {})).ready, 30_000, 'health to be ready');
    // The answers given while the disk was full (checked here, after the main point).
    expect(cancel).toBeInstanceOf(RpcError);
    expect((cancel as RpcError).code).toBe(ErrorCode.INVALID_STATE);
    expect((cancel as RpcError).message).toMatch(/already ended; its end waits to be recorded/);
    expect((cancelled as RpcError).code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(sleeperStopped).toBe(true);
    // Not ready meanwhile because of the held events, not only because the store failed.
    expect(held.reasons.join('; ')).toMatch(/job event\(s\) the event store refused wait to be recorded/);

    const record = await client.call('job.get', { job_id });
    expect(record.sheets.map((s: { status: string; exit_code: number | null }) => [s.status, s.exit_code])).toEqual([
      ['completed', 0],
      ['failed', 3],
    ]);
    const page = await client.call('events.read', { since: 0, limit: 1000, job_id });
    expect(page.events.map((e: { type: string; sheet_num?: number }) => `${e.type}${e.sheet_num ? `#${e.sheet_num}` : ''}`)).toEqual([
      'job.submitted',
      'job.started',
      'sheet.started#1',
      'process.spawn#1',
      'process.exit#1',
      'sheet.completed#1',
      'sheet.started#2',
      'process.spawn#2',
      'process.exit#2',
      'sheet.failed#2',
      'job.failed',
    ]);
    expectGapFree((await readAllEvents(client)).map((e) => e.seq!));
    expect(conductor.output()).toMatch(/kept, with what follows, until the store accepts writes/);
    expect(conductor.proc.exitCode).toBeNull();
    console.log(`disk full: job end recorded ${recoveredMs} ms after space returned`);
    await client.close();
  }, 120_000);
});
