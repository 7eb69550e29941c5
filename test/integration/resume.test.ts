/**
 * subscribe({since}) replays from the log and switches to live with no gap and no duplicate,
 * even while events keep arriving during the replay; caught_up marks the switch.
 */
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { expectGapFree } from '../helpers/collect.js';
import { useConductor } from '../helpers/conductorProcess.js';
import { RawClient } from '../helpers/rawClient.js';

const fixture = useConductor({ client: false, env: { MZT_DEBUG_METHODS: '1' } });

describe('resume', () => {
  it('replays then goes live without gap or duplicate while events keep arriving', async () => {
    const producer = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    await producer.call('debug.emit', { count: 20_000, size: 100 });
    // Keep producing while the subscriber replays.
    let producing = true;
    const background = (async () => {
      while (producing) await producer.call('debug.emit', { count: 500, size: 100 });
    })();
    const consumer = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    const seqs: number[] = [];
    let caughtUpAt = -1;
    let target = Infinity;
    // No type filter: the whole log is gap-free, whatever else the conductor records meanwhile.
    for await (const item of consumer.subscribe({ since: 0 })) {
      if (item.kind === 'caught_up') {
        caughtUpAt = seqs.length;
        producing = false;
        await background;
        target = (await producer.call('events.read', { since: 0, limit: 1 })).head_seq;
      } else if (item.kind === 'event') {
        seqs.push(item.event.seq!);
      }
      if (seqs.length > 0 && seqs.at(-1)! >= target) break;
    }
    expect(caughtUpAt).toBeGreaterThan(0);
    expect(seqs.length).toBeGreaterThan(caughtUpAt); // some arrived live after the switch
    expectGapFree(seqs);
    await consumer.close();
    await producer.close();
  });

  it('sends caught_up even when the filter matches nothing', async () => {
    const c = await RawClient.connect(fixture.conductor.socketPath);
    c.request(1, 'daemon.monitor.stream', { since: 0, job_id: 'no-such-job' });
    const [, , error, result] = await c.response(1);
    expect(error).toBeNull();
    const caught = await c.waitFor((m) => m[0] === 2 && m[1] === 'stream.caught_up');
    expect(caught[2]).toMatchObject({ subscription: result.subscription });
    expect(caught[2].seq).toBeGreaterThanOrEqual(result.head_seq);
    expect(c.messages.filter((m: any) => m[1] === 'stream.event')).toHaveLength(0);
    c.close();
  });

  it('events.read pages through the log by seq with filters', async () => {
    const client = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    const first = await client.call('events.read', { since: 0, limit: 10, types: ['daemon.'] });
    expect(first.events.length).toBeGreaterThan(0);
    for (const e of first.events) expect(e.type.startsWith('daemon.')).toBe(true);
    const page1 = await client.call('events.read', { since: 0, limit: 100 });
    const page2 = await client.call('events.read', { since: page1.next_since, limit: 100 });
    expect(page2.events[0].seq).toBe(page1.events.at(-1).seq + 1);
    expect(page1.has_more).toBe(true);
    await client.close();
  });
});
