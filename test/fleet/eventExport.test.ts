/**
 * Export of a real conductor's events to a real nats-server (Debian's 2.9, JetStream):
 * exactly once and in seq order, across a NATS outage and a kill -9 of the conductor, with the
 * local service unaffected while NATS is down. Nothing is mocked.
 */
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { startNatsServer, type NatsServer } from '../helpers/natsServer.js';
import { checkExactlyOnce, readHostEvents } from './streamReader.js';

let nats: NatsServer;
const homes: string[] = [];
const conductors: RunningConductor[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
}, 120_000);

afterAll(async () => {
  for (const c of conductors) await c.stop();
  for (const h of homes) removeHome(h);
  await nats?.dispose();
});

async function start(host: string, home = makeHome(), extra: Record<string, unknown> = {}): Promise<{ conductor: RunningConductor; client: DaemonClient; home: string }> {
  if (!homes.includes(home)) homes.push(home);
  const conductor = await startConductor(home, { env: { MZT_DEBUG_METHODS: '1' }, config: { fleet: { nats_url: nats.url, host }, ...extra } });
  conductors.push(conductor);
  const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
  return { conductor, client, home };
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

  it('keeps serving while NATS is down and catches up after, without gap or duplicate', async () => {
    const { client } = await start('beta');
    await caughtUp(client);
    await nats.stop();
    await waitFor(async () => (await client.call('daemon.status', {})).fleet?.connected === false, 10_000, 'disconnected');
    // Local service goes on: events, a job, status.
    await client.call('debug.emit', { count: 3000, size: 50, type: 'debug.outage' });
    const job = await client.call('job.submit', { name: 'during-outage', sheets: [{ argv: ['true'] }] });
    await waitFor(async () => (await client.call('job.get', { job_id: job.job_id })).status === 'completed', 10_000, 'job completed');
    const during = await client.call('daemon.status', {});
    expect(during.fleet?.export.lag_events).toBeGreaterThanOrEqual(3000);
    expect(during.fleet?.export.lag_bytes).toBeGreaterThan(3000 * 50);
    await nats.restart();
    const { head } = await caughtUp(client, 60_000);
    expect(checkExactlyOnce(await readHostEvents(nats.url, 'beta'), 1, head)).toBeUndefined();
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
      return s.fleet?.export.state === 'refused' ? s : undefined;
    }, 20_000, 'export refused');
    expect(status.fleet!.export.last_error).toMatch(/another event store uses this host name/);
    await client.close();
  }, 60_000);

  it('an unreachable NATS leaves the conductor serving and says where it tried', async () => {
    const home = makeHome();
    homes.push(home);
    const conductor = await startConductor(home, { config: { fleet: { nats_url: 'nats://127.0.0.1:1', host: 'nowhere' } } });
    conductors.push(conductor);
    const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const status = await waitFor(async () => {
      const s = await client.call('daemon.status', {});
      return s.fleet?.export.last_error ? s : undefined;
    }, 10_000, 'an error reported');
    expect(status.fleet!.connected).toBe(false);
    expect(status.fleet!.export.last_error).toContain('nats://127.0.0.1:1');
    await client.close();
  }, 30_000);

  it('a malformed fleet config stops the start with an error naming the key', async () => {
    const home = makeHome();
    homes.push(home);
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, fleet: { nats_url: 'http://x', host: 'ok' } }));
    await expect(startConductor(home, { timeoutMs: 10_000 })).rejects.toThrow(/fleet\.nats_url/);
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, fleet: { nats_url: 'nats://127.0.0.1:4222', host: 'has space' } }));
    await expect(startConductor(home, { timeoutMs: 10_000 })).rejects.toThrow(/fleet\.host/);
  }, 30_000);
});
