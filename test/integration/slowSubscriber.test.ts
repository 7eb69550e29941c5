/**
 * A client that stops reading (think Ctrl+Z) neither grows the conductor's memory without
 * bound nor slows another subscriber; when it reads again it is told exactly what it lost
 * and where to resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { RawClient } from '../helpers/rawClient.js';
import { collectUntil, expectGapFree } from '../helpers/collect.js';
import { makeHome, removeHome, rssMb, startConductor, type RunningConductor } from '../helpers/conductorProcess.js';

let home: string;
let conductor: RunningConductor;

beforeAll(async () => {
  home = makeHome();
  conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' } });
});

afterAll(async () => {
  await conductor?.stop();
  removeHome(home);
});

describe('slow subscribers', () => {
  it('bounds a stalled subscriber and reports its loss, while another keeps up', async () => {
    const producer = await DaemonClient.connect({ socketPath: conductor.socketPath });
    const healthy = await DaemonClient.connect({ socketPath: conductor.socketPath });
    const stalled = await RawClient.connect(conductor.socketPath);
    stalled.request(1, 'daemon.monitor.stream', {
      types: ['debug.'],
      max_queued_events: 1000,
      max_queued_bytes: 1024 * 1024,
    });
    await stalled.response(1);
    stalled.socket.pause(); // stop reading: the kernel buffer fills, then the conductor's queue

    const live = healthy.subscribe({ types: ['debug.'], max_queued_events: 100_000, max_queued_bytes: 64 * 1024 * 1024 });
    const baseline = rssMb(conductor.pid);
    const total = 60_000;
    const size = 2000; // 120 MB of events in all: far more than the stalled bound
    let peak = baseline;
    const emitted: Array<{ first_seq: number; last_seq: number }> = [];
    const receiving = collectUntil(live, (e) => e.data.i === 4999 && e.seq === emitted.at(-1)?.last_seq, 120_000);
    for (let b = 0; b < total / 5000; b++) {
      emitted.push(await producer.call('debug.emit', { count: 5000, size }));
      peak = Math.max(peak, rssMb(conductor.pid));
    }
    const got = await receiving;
    peak = Math.max(peak, rssMb(conductor.pid));

    // The healthy subscriber got every event, in order, without gaps.
    const seqs = got.map((e) => e.seq!);
    expect(seqs.length).toBe(total);
    expectGapFree(seqs);
    expect(seqs[0]).toBe(emitted[0]!.first_seq);

    // The conductor did not hold the stalled client's 120 MB.
    expect(peak - baseline).toBeLessThan(64);

    // The stalled client reads again: what it got plus what it was told it lost is everything.
    stalled.socket.resume();
    const firstSeq = emitted[0]!.first_seq;
    const lastSeq = emitted.at(-1)!.last_seq;
    // Done when the last event arrived, or a lag notice covering it did.
    await stalled.waitFor(
      (m) =>
        m[0] === 2 &&
        ((m[1] === 'stream.event' && m[2].event.seq === lastSeq) || (m[1] === 'stream.lagged' && m[2].head_seq >= lastSeq)),
      30_000,
    );
    const notices = stalled.messages.filter((m: any) => m[0] === 2 && m[1] === 'stream.lagged') as any[];
    expect(notices.length).toBeGreaterThan(0);
    expect(notices[0][2].resume_from).toBeGreaterThanOrEqual(firstSeq);
    const delivered = stalled.messages.filter((m: any) => m[0] === 2 && m[1] === 'stream.event').length;
    const lost = notices.reduce((n: number, m: any) => n + m[2].lost, 0);
    expect(delivered + lost).toBe(total);

    stalled.close();
    await healthy.close();
    await producer.close();
  }, 180_000);
});
