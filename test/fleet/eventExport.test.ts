/**
 * Export of a real conductor's events to a real nats-server (Debian's 2.9, JetStream):
 * exactly once and in seq order, across a NATS outage and a kill -9 of the conductor, with the
 * local service unaffected while NATS is down (submit, a live subscription, the dashboard).
 * Nothing is mocked.
 */
import path from 'node:path';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { startConductor, waitFor } from '../helpers/conductorProcess.js';
import { useConductorSet, type StartedConductor } from '../helpers/conductorSet.js';
import { useNatsServer } from '../helpers/natsServer.js';
import { checkExactlyOnce, readHostEvents } from './streamReader.js';

const nats = useNatsServer();
// Registered after NATS: its conductors stop before the server goes.
const fleet = useConductorSet();
const conductors = fleet.conductors;

function start(host: string, home = fleet.newHome(), extra: Record<string, unknown> = {}): Promise<StartedConductor> {
  return fleet.start({ home, env: { MZT_DEBUG_METHODS: '1' }, config: { fleet: { nats_url: nats.url, host }, ...extra } });
}

async function caughtUp(client: DaemonClient, timeoutMs = 30_000): Promise<{ head: number }> {
  return waitFor(async () => {
    const s = await client.call('daemon.status', {});
    return s.fleet?.export.lag_events === 0 && s.fleet.export.exported_seq === s.head_seq ? { head: s.head_seq } : undefined;
  }, timeoutMs, 'export caught up');
}

describe('event export to JetStream', () => {
  it('exports every event once, in order, with the host in the subject and seq in the message id', async () => {
    const { client } = await start('alpha');
    await client.call('debug.emit', { count: 2000, size: 50, type: 'debug.burst' });
    const { head } = await caughtUp(client);
    const held = await readHostEvents(nats.url, 'alpha');
    expect(checkExactlyOnce(held, 1, head)).toBeUndefined();
    expect(held.find((h) => h.type === 'debug.burst')?.subject).toBe('mzt.alpha.events.debug.burst');
    expect(held.at(-1)?.msgId).toBe(`alpha:${head}`);
    await client.close();
  }, 60_000);

  it('keeps serving while NATS is down for 10 s (submit, a live subscription, the dashboard) and catches up after, without gap or duplicate', async () => {
    const { client } = await start('beta', fleet.newHome(), { dashboard_enabled: true, dashboard_port: 0 });
    await caughtUp(client);
    const login = new URL((await client.call('daemon.status', {})).dashboard_url as string);
    const token = login.searchParams.get('token')!;
    const dashboard = (route: string) => fetch(new URL(route, login.origin), { headers: { authorization: `Bearer ${token}` } });
    // A second local client follows the log live from here on, through the outage.
    const watcher = await DaemonClient.connect({ socketPath: conductors.at(-1)!.socketPath, reconnect: false });
    const received: number[] = [];
    const sub = watcher.subscribe({ since: (await client.call('daemon.status', {})).head_seq });
    const following = (async () => {
      for await (const item of sub) if (item.kind === 'event' && item.event.seq !== undefined) received.push(item.event.seq);
    })();

    await nats.stop();
    const downAt = Date.now();
    await waitFor(async () => (await client.call('daemon.status', {})).fleet?.connected === false, 10_000, 'disconnected');
    // Events keep coming for 10 s of outage; each batch reaches the live subscription while NATS is down.
    let emitted = 0;
    let firstSeq: number | undefined;
    let job: { job_id: string } | undefined;
    while (Date.now() - downAt < 10_000) {
      const batch = await client.call('debug.emit', { count: 150, size: 50, type: 'debug.outage' });
      firstSeq ??= batch.first_seq;
      emitted += 150;
      await waitFor(() => received.at(-1)! >= batch.last_seq, 5000, `seq ${batch.last_seq} on the live subscription`);
      job ??= await client.call('job.submit', { name: 'during-outage', sheets: [{ argv: ['true'] }] });
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(emitted).toBeGreaterThanOrEqual(1500);
    await waitFor(async () => (await client.call('job.get', { job_id: job!.job_id })).status === 'completed', 10_000, 'job completed');
    // The dashboard answers with its token: the job run during the outage, the conductor's
    // status, and the fleet view saying (at once) that NATS cannot be reached.
    const jobs = await dashboard('/api/jobs?limit=5');
    expect(jobs.status).toBe(200);
    expect((await jobs.json()).jobs.map((j: { job_id: string }) => j.job_id)).toContain(job!.job_id);
    expect((await dashboard('/api/status')).status).toBe(200);
    const fleetView = await dashboard('/api/fleet/hosts');
    expect(fleetView.status).toBe(503);
    expect(await fleetView.json()).toMatchObject({ reason: 'nats_unreachable', error: expect.stringContaining(nats.url) });
    const during = await client.call('daemon.status', {});
    expect(during.fleet?.connected).toBe(false);
    expect(during.fleet?.export.lag_events).toBeGreaterThanOrEqual(emitted);
    expect(during.fleet?.export.lag_bytes).toBeGreaterThan(emitted * 50);
    const outageMs = Date.now() - downAt;
    expect(outageMs).toBeGreaterThanOrEqual(10_000);
    // Nothing the subscription got was out of order or missing.
    const fromFirst = received.filter((seq) => seq >= firstSeq!);
    expect(fromFirst.every((seq, i) => seq === firstSeq! + i)).toBe(true);

    await nats.restart();
    const t0 = Date.now();
    const { head } = await caughtUp(client, 60_000);
    console.log(`NATS down ${(outageMs / 1000).toFixed(1)} s, ${emitted} events produced meanwhile; export caught up ${((Date.now() - t0) / 1000).toFixed(1)} s after restart`);
    expect(checkExactlyOnce(await readHostEvents(nats.url, 'beta'), 1, head)).toBeUndefined();
    await watcher.close();
    await following;
    await client.close();
  }, 120_000);

  it('after kill -9 mid-export, the restarted conductor resumes from what the stream holds', async () => {
    const first = await start('gamma');
    await first.client.call('debug.emit', { count: 30_000, size: 100, type: 'debug.crash' });
    await waitFor(async () => ((await first.client.call('daemon.status', {})).fleet?.export.exported_seq ?? 0) > 100, 20_000, 'export under way');
    const mid = await first.client.call('daemon.status', {});
    await first.client.close();
    await first.conductor.kill9();
    expect(mid.fleet!.export.lag_events).toBeGreaterThan(0); // it was killed mid-export, not after
    const again = await start('gamma', first.home);
    const { head } = await caughtUp(again.client, 60_000);
    expect(checkExactlyOnce(await readHostEvents(nats.url, 'gamma'), 1, head)).toBeUndefined();
    await again.client.close();
  }, 120_000);

  it('a second live conductor under a host name in use is refused, naming the holder; it keeps serving', async () => {
    const holder = conductors[0]!; // 'alpha', from the first test, still running
    const { client } = await start('alpha');
    const status = await waitFor(async () => {
      const s = await client.call('daemon.status', {});
      // The state and its error arrive together: no status shows `refused` without its reason.
      return s.fleet?.export.state === 'refused' ? s : undefined;
    }, 20_000, 'refused');
    expect(status.fleet!.export.last_error).toContain(`"alpha" is held by a live conductor (pid ${holder.pid}`);
    expect((await client.call('job.submit', { name: 'local', sheets: [{ argv: ['true'] }] })).job_id).toBeDefined();
    await client.close();
  }, 60_000);

  it('once the holder stopped, another event store under its name is refused by the export check', async () => {
    await conductors[0]!.stop(); // 'alpha' leaves the host table on a clean stop
    const { client } = await start('alpha');
    const status = await waitFor(async () => {
      const s = await client.call('daemon.status', {});
      // The state and its error arrive together: no status shows `refused` without its reason.
      return s.fleet?.export.state === 'refused' ? s : undefined;
    }, 20_000, 'export refused');
    expect(status.fleet!.export.last_error).toMatch(/another event store uses this host name/);
    await client.close();
  }, 60_000);

  it('an unreachable NATS leaves the conductor serving and says where it tried', async () => {
    const { client } = await fleet.start({ config: { fleet: { nats_url: 'nats://127.0.0.1:1', host: 'nowhere' } } });
    const status = await waitFor(async () => {
      const s = await client.call('daemon.status', {});
      return s.fleet?.export.last_error ? s : undefined;
    }, 10_000, 'an error reported');
    expect(status.fleet!.connected).toBe(false);
    expect(status.fleet!.export.last_error).toContain('nats://127.0.0.1:1');
    await client.close();
  }, 30_000);

  it('a malformed fleet config stops the start with an error naming the key', async () => {
    const home = fleet.newHome();
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, fleet: { nats_url: 'http://x', host: 'ok' } }));
    await expect(startConductor(home, { timeoutMs: 10_000 })).rejects.toThrow(/fleet\.nats_url/);
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, fleet: { nats_url: 'nats://127.0.0.1:4222', host: 'has space' } }));
    await expect(startConductor(home, { timeoutMs: 10_000 })).rejects.toThrow(/fleet\.host/);
  }, 30_000);
});
