/**
 * Signals as events: what the conductor sends a sheet (`process.kill`: SIGTERM on cancel or
 * timeout, SIGKILL when the group outlives the grace period), how a sheet ended
 * (`process.signal`, by the conductor or not), and a SIGKILL from elsewhere (`process.oom`
 * only when the kernel's OOM count rose or cannot be read) — all in the resource report.
 */
import { describe, expect, it } from 'vitest';
import { readOomKillCount } from '../../src/actors/sheetProcess.js';
import type { DurableEvent } from '../../src/events/types.js';
import { pidAlive, useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ client: { reconnect: false }, config: { kill_grace_seconds: 0.5 } });

async function ended(jobId: string): Promise<void> {
  await waitFor(async () => !['queued', 'running'].includes((await fixture.client.call('job.get', { job_id: jobId })).status), 15_000, `${jobId} ended`);
}

async function processEvents(jobId: string): Promise<DurableEvent[]> {
  const { events } = await fixture.client.call('events.read', { since: 0, job_id: jobId, types: ['process.'], limit: 1000 });
  return events as DurableEvent[];
}

describe('signal events', () => {
  it('cancel: process.kill SIGTERM (cancelled), then process.signal by the conductor', async () => {
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sleep', '30'] }] });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'running', 5000, 'running');
    await fixture.client.call('job.cancel', { job_id });
    const events = await processEvents(job_id);
    const kill = events.find((e) => e.type === 'process.kill')!;
    const pid = events.find((e) => e.type === 'process.spawn')!.data.pid;
    expect(kill.data).toEqual({ pid, pgid: pid, signal: 'SIGTERM', reason: 'cancelled' });
    expect(events.find((e) => e.type === 'process.signal')!.data).toEqual({ pid, signal: 'SIGTERM', by_conductor: true });
    expect(events.some((e) => e.type === 'process.oom')).toBe(false);
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.signals).toEqual([{ sheet_num: 1, signal: 'SIGTERM', by_conductor: true }]);
    expect(report.process_kill_count).toBe(1);
    expect(report.oom_kills).toBe(0);
  });

  it('timeout of a sheet that ignores SIGTERM: SIGTERM then SIGKILL, both recorded', async () => {
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [{ argv: ['sh', '-c', "trap '' TERM; sleep 30 & wait; sleep 30"], timeout_seconds: 0.5 }],
    });
    await ended(job_id);
    const kills = (await processEvents(job_id)).filter((e) => e.type === 'process.kill').map((e) => [e.data.signal, e.data.reason]);
    expect(kills).toEqual([
      ['SIGTERM', 'timeout'],
      ['SIGKILL', 'timeout'],
    ]);
    const signal = (await processEvents(job_id)).find((e) => e.type === 'process.signal')!;
    expect(signal.data).toMatchObject({ signal: 'SIGKILL', by_conductor: true });
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.process_kill_count).toBe(2);
    expect(report.oom_kills).toBe(0);
    expect(report.text_report).toContain('2 signals sent by the conductor');
  });

  it('a sheet that exits leaving processes in its group: they are stopped, and that is recorded', async () => {
    // The main shell exits at once; the sleep it started in the background stays in its group.
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'sleep 30 & echo "bg=$!"'] }] });
    await ended(job_id);
    expect((await fixture.client.call('job.get', { job_id })).status).toBe('completed');
    const bg = Number(/bg=(\d+)/.exec((await fixture.client.call('job.logs', { job_id })).lines.join('\n'))![1]);
    const events = await processEvents(job_id);
    const pid = events.find((e) => e.type === 'process.spawn')!.data.pid;
    expect(events.filter((e) => e.type === 'process.kill').map((e) => e.data)).toEqual([
      { pid, pgid: pid, signal: 'SIGTERM', reason: 'leftover_processes' },
    ]);
    await waitFor(async () => !pidAlive(bg), 5000, `background sleep ${bg} to be gone`);
    expect((await fixture.client.call('monitor.resource_report', { job_id })).process_kill_count).toBe(1);
    // A sheet that leaves nothing behind gets no such event.
    const clean = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'sleep 0.1 & wait'] }] });
    await ended(clean.job_id);
    expect((await processEvents(clean.job_id)).filter((e) => e.type === 'process.kill')).toEqual([]);
  });

  it("someone else's kill -9: process.signal not by the conductor; process.oom only if the kernel counted an OOM kill", async () => {
    const before = readOomKillCount();
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'kill -9 $$'] }] });
    await ended(job_id);
    const events = await processEvents(job_id);
    expect(events.find((e) => e.type === 'process.signal')!.data).toMatchObject({ signal: 'SIGKILL', by_conductor: false });
    const after = readOomKillCount();
    const oom = events.filter((e) => e.type === 'process.oom');
    if (before !== null && after === before) {
      // This machine can say there was no OOM kill: no oom event.
      expect(oom).toHaveLength(0);
    } else {
      expect(oom).toHaveLength(1);
    }
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.signals).toEqual([{ sheet_num: 1, signal: 'SIGKILL', by_conductor: false }]);
    expect(report.oom_kills).toBe(oom.length);
  });

  it('reads the kernel OOM count from a vmstat file', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vmstat-')), 'vmstat');
    fs.writeFileSync(f, 'nr_free_pages 1\noom_kill 7\npgfault 3\n');
    expect(readOomKillCount(f)).toBe(7);
    fs.writeFileSync(f, 'nr_free_pages 1\n');
    expect(readOomKillCount(f)).toBeNull();
    expect(readOomKillCount(path.join(f, 'missing'))).toBeNull();
  });
});
