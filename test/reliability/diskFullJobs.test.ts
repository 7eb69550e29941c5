/**
 * A full disk while jobs end (a real 16 MB tmpfs filled with dd): twelve jobs of two sheets end
 * while nothing can be written; once space returns every job reaches its outcome with its
 * events in order, and health turns ready. Then a conductor stopped while an end is still
 * refused stops in bounded time, says what it could not record, and the next start closes
 * that job as interrupted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { expectGapFree } from '../helpers/collect.js';
import { startConductor, waitFor } from '../helpers/conductorProcess.js';
import { fillUntilRefused, useSmallDisk } from '../helpers/smallDisk.js';
import { readAllEvents } from '../helpers/jobs.js';

const rig = useSmallDisk();

const waitSheet = (go: string, code: number) => ({ argv: ['sh', '-c', `while [ ! -e ${go} ]; do sleep 0.05; done; exit ${code}`] });
const typesOf = (events: Array<{ type: string; sheet_num?: number }>) => events.map((e) => `${e.type}${e.sheet_num ? `#${e.sheet_num}` : ''}`);

describe('jobs that end while the disk is full', () => {
  it('all reach their outcome in order once space returns; a stop with a refused end is bounded and the next start closes it', async () => {
    const home = rig.mountHome();
    const disk = rig.disk;
    let conductor = (rig.conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' }, config: { max_concurrent_jobs: 12 } }));
    let client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });

    const go = path.join(rig.gate, 'go');
    const jobs: Array<{ job_id: string; fails: boolean }> = [];
    for (let i = 0; i < 12; i++) {
      const fails = i % 3 === 0;
      const { job_id } = await client.call('job.submit', { name: `full-${i}`, sheets: [waitSheet(go, 0), { argv: ['sh', '-c', `exit ${fails ? 4 : 0}`] }] });
      jobs.push({ job_id, fails });
    }
    await waitFor(async () => (await client.call('job.list', { status: ['running'] })).total === 12, 30_000, 'twelve jobs running');
    await fillUntilRefused(client, disk);
    disk.fill();

    fs.writeFileSync(go, '');
    await waitFor(async () => (await client.call('daemon.status', {})).running_jobs === 0, 30_000, 'the jobs to end');
    const during = await client.call('daemon.health', {});
    expect(during.ready).toBe(false);
    expect((await client.call('job.list', { status: ['running'] })).total).toBe(12);
    // A longer outage: the retries back off to their longest interval (2 s) before space returns.
    await new Promise((r) => setTimeout(r, 6000));
    expect((await client.call('job.list', { status: ['running'] })).total).toBe(12);

    const freedAt = Date.now();
    disk.free();
    await waitFor(async () => (await client.call('job.list', { status: ['completed', 'failed'] })).total === 12, 60_000, 'every job recorded');
    const recordedMs = Date.now() - freedAt;
    await waitFor(async () => (await client.call('daemon.health', {})).ready, 60_000, 'health ready');
    const readyMs = Date.now() - freedAt;
    expect(during.reasons.join('; ')).toMatch(/job event\(s\) the event store refused wait to be recorded/);
    for (const { job_id, fails } of jobs) {
      const events = (await client.call('events.read', { since: 0, limit: 1000, job_id })).events;
      expect(typesOf(events).filter((t) => !t.startsWith('process.'))).toEqual([
        'job.submitted',
        'job.started',
        'sheet.started#1',
        'sheet.completed#1',
        'sheet.started#2',
        fails ? 'sheet.failed#2' : 'sheet.completed#2',
        fails ? 'job.failed' : 'job.completed',
      ]);
      expect((await client.call('job.get', { job_id })).status).toBe(fails ? 'failed' : 'completed');
    }
    expectGapFree((await readAllEvents(client)).map((e) => e.seq!));

    // A stop while a job's end is refused: bounded, and said.
    const go2 = path.join(rig.gate, 'go2');
    const { job_id: last } = await client.call('job.submit', { name: 'ends-then-stop', sheets: [waitSheet(go2, 0)] });
    await waitFor(async () => (await client.call('job.get', { job_id: last })).sheets[0].status === 'running', 15_000, 'sheet running');
    await fillUntilRefused(client, disk);
    disk.fill();
    fs.writeFileSync(go2, '');
    await waitFor(async () => (await client.call('daemon.status', {})).running_jobs === 0, 30_000, 'the job to end');
    await client.close();
    const stopAt = Date.now();
    await conductor.stop();
    const stopMs = Date.now() - stopAt;
    expect(conductor.output()).toMatch(new RegExp(`stopping with job events the store refused .*${last}: .*job\\.completed`));

    disk.free();
    conductor = rig.conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' } });
    client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const record = await client.call('job.get', { job_id: last });
    expect(record.status).toBe('interrupted');
    expect(record.reason).toBe('conductor_restarted');
    console.log(
      `disk full: 12 jobs' ends recorded ${recordedMs} ms after space returned (outage 6 s), health ready at ${readyMs} ms; stop with a refused end took ${stopMs} ms`,
    );
    await client.close();
  });
});
