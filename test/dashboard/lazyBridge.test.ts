/**
 * The dashboard follows the conductor's stream only while a page wants it: no subscription with
 * no page open, one while a page is open, none again a linger after the last page left — and a
 * page still gets every event exactly once: live from its start, and resumed by Last-Event-ID
 * across a stretch where no page was open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { DaemonClient } from '../../src/ipc/client.js';
import { makeHome, removeHome, startConductor, waitFor } from '../helpers/conductorProcess.js';
import { openSse, type SseClient } from '../helpers/sse.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const home = makeHome();
  cleanups.push(() => removeHome(home));
  const conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' } });
  cleanups.push(() => conductor.stop());
  const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
  cleanups.push(() => client.close());
  const dashboard = new DashboardServer({ home, port: 0, heartbeatMs: 500, bridgeLingerMs: 1000 });
  await dashboard.start();
  cleanups.push(() => dashboard.stop());
  await waitFor(() => dashboard.bridge.connected, 10_000, 'bridge connected');
  const base = `http://127.0.0.1:${dashboard.port}`;
  const sse = (path: string, headers: Record<string, string> = {}) => openSse(`${base}${path}`, { authorization: `Bearer ${dashboard.token}`, ...headers });
  /** Subscriptions the conductor serves (the test's own client has none). */
  const subscriptions = async () => (await client.call('daemon.status', {})).subscriptions as number;
  const emit = (count: number) => client.call('debug.emit', { count, size: 10, type: 'debug.burst' });
  return { dashboard, client, sse, subscriptions, emit };
}

const seqsOf = (page: SseClient) => page.events.filter((e) => e.event === 'debug.burst').map((e) => Number(e.id));

describe('the dashboard bridge follows the stream only while a page wants it', () => {
  it('subscribes for an open page, unsubscribes a linger after it closed; the page gets every event once', async () => {
    const t = await setup();
    await new Promise((r) => setTimeout(r, 500));
    expect(await t.subscriptions()).toBe(0);
    expect(t.dashboard.bridge.following).toBe(false);

    const page = await t.sse('/api/events?types=debug.');
    const first = await t.emit(300); // at once: before or while the bridge's subscription starts
    await waitFor(() => t.dashboard.bridge.following, 5000, 'following');
    expect(await t.subscriptions()).toBe(1);
    const second = await t.emit(200);
    await page.waitFor((e) => Number(e.id) === second.last_seq, 10_000);
    const seqs = seqsOf(page);
    expect(seqs).toEqual(Array.from({ length: second.last_seq - first.first_seq + 1 }, (_, i) => first.first_seq + i));
    page.close();

    await waitFor(() => !t.dashboard.bridge.following, 5000, 'idle after the linger');
    expect(await t.subscriptions()).toBe(0);
  }, 30_000);

  it('a page resumed by Last-Event-ID after a stretch with no page open gets what it missed, once, in order', async () => {
    const t = await setup();
    const page = await t.sse('/api/events?types=debug.');
    const before = await t.emit(50);
    await page.waitFor((e) => Number(e.id) === before.last_seq, 10_000);
    page.close();
    await waitFor(() => !t.dashboard.bridge.following, 5000, 'idle');
    const missed = await t.emit(400); // nobody follows now
    const again = await t.sse('/api/events?types=debug.', { 'last-event-id': String(before.last_seq) });
    const after = await t.emit(100);
    await again.waitFor((e) => Number(e.id) === after.last_seq, 10_000);
    expect(seqsOf(again)).toEqual(Array.from({ length: after.last_seq - missed.first_seq + 1 }, (_, i) => missed.first_seq + i));
    again.close();
  }, 30_000);
});
