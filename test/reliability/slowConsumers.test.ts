/**
 * Slow consumers: 10 clients subscribe and then stop reading during a 100k-event burst.
 * The conductor's RSS stays under a documented bound (idle + 150 MB, of which the bursts'
 * own garbage is most) while the stalled clients' share would be ~200 MB, a healthy
 * subscriber gets every event, and the stalled ones are told exactly what they lost.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { FrameDecoder, decodeValue, encodeFrame } from '../../src/ipc/framing.js';
import { rssMb, useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ client: false, env: { MZT_DEBUG_METHODS: '1' } });

describe('slow consumers', () => {
  it('10 stalled subscribers during a 100k burst: bounded memory, healthy one unaffected', async () => {
    const producer = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    const { head_seq } = await producer.call('events.read', { limit: 1 });
    const stalled = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const socket = net.createConnection(fixture.conductor.socketPath);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const messages: any[] = [];
        const dec = new FrameDecoder(64 * 1024 * 1024);
        socket.on('data', (c) => {
          for (const f of dec.push(c)) messages.push(decodeValue(f));
        });
        socket.write(encodeFrame([0, 1, 'daemon.monitor.stream', { since: head_seq, types: ['debug.'] }])); // default bounds: 10k events / 8 MiB
        await waitFor(() => messages.some((m) => m[0] === 1), 5000, 'subscription');
        socket.pause();
        return { socket, messages };
      }),
    );
    const healthy = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    let received = 0;
    let wake: (() => void) | undefined;
    const reading = (async () => {
      for await (const item of healthy.subscribe({ since: head_seq, types: ['debug.'] })) {
        if (item.kind === 'lagged') throw new Error('the healthy subscriber lagged');
        if (item.kind === 'event' && ++received) wake?.();
        if (received === 100_000) return;
      }
    })();
    const baseline = rssMb(fixture.conductor.pid);
    let peak = baseline;
    const started = Date.now();
    let last = 0;
    for (let b = 0; b < 50; b++) {
      const batch = await producer.call('debug.emit', { count: 2000, size: 2000 });
      last = batch.last_seq;
      while (received < (b + 1) * 2000) await new Promise<void>((r) => (wake = r));
      peak = Math.max(peak, rssMb(fixture.conductor.pid));
    }
    await reading;
    const seconds = (Date.now() - started) / 1000;
    expect(received).toBe(100_000);
    // 10 x 200 MB would be held without bounds; with them the growth is the burst's garbage.
    expect(peak - baseline).toBeLessThan(150);

    for (const s of stalled) s.socket.resume();
    for (const s of stalled) {
      await waitFor(
        () => s.messages.some((m) => m[0] === 2 && ((m[1] === 'stream.event' && m[2].event.seq === last) || (m[1] === 'stream.lagged' && m[2].head_seq >= last))),
        30_000,
        'a stalled client to drain',
      );
    }
    const accounts = stalled.map((s) => {
      const delivered = s.messages.filter((m) => m[1] === 'stream.event').length;
      const lost = s.messages.filter((m) => m[1] === 'stream.lagged').reduce((n, m) => n + m[2].lost, 0);
      return { delivered, lost };
    });
    for (const a of accounts) expect(a.delivered + a.lost).toBe(100_000);
    const after = await waitFor(() => rssMb(fixture.conductor.pid), 1000);
    console.log(
      `slow consumers: 100,000 events of 2 KB in ${seconds.toFixed(1)} s to a healthy subscriber while 10 stalled; fixture.conductor RSS ${baseline.toFixed(1)} MB → peak ${peak.toFixed(1)} MB → ${after.toFixed(1)} MB; stalled clients got ${accounts.map((a) => a.delivered).join('/')} and were told of ${accounts.map((a) => a.lost).join('/')} lost`,
    );
    for (const s of stalled) s.socket.destroy();
    await healthy.close();
    await producer.close();
  });
});
