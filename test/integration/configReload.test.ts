/**
 * SIGHUP reloads config.json; a bad file is rejected with a log line and an event, and the
 * running config is kept. Dashboard keys restart the dashboard with them, or are refused by
 * name when it cannot run with them — never reported applied when they are not.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { collectUntil } from '../helpers/collect.js';
import { makeHome, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ config: { max_concurrent_jobs: 4 } });

describe('config reload on SIGHUP', () => {
  it('applies a valid file and rejects a broken one', async () => {
    expect((await fixture.client.call('daemon.config', {})).max_concurrent_jobs).toBe(4);
    const { head_seq } = await fixture.client.call('events.read', { limit: 1 });
    const events = fixture.client.subscribe({ since: head_seq, types: ['config.'] });

    fs.writeFileSync(path.join(fixture.home, 'config.json'), JSON.stringify({ dashboard_enabled: false, max_concurrent_jobs: 1 }));
    process.kill(fixture.conductor.pid, 'SIGHUP');
    const [reloaded] = await collectUntil(events, (e) => e.type === 'config.reloaded');
    expect(reloaded!.data.changed).toEqual(['max_concurrent_jobs']);
    expect((await fixture.client.call('daemon.config', {})).max_concurrent_jobs).toBe(1);

    fs.writeFileSync(path.join(fixture.home, 'config.json'), JSON.stringify({ max_concurrent_jobs: 'lots' }));
    process.kill(fixture.conductor.pid, 'SIGHUP');
    const [failed] = await collectUntil(events, (e) => e.type === 'config.reload_failed');
    expect(String(failed!.data.error)).toMatch(/max_concurrent_jobs/);
    expect((await fixture.client.call('daemon.config', {})).max_concurrent_jobs).toBe(1);
    await waitFor(() => /config reload rejected/.test(fixture.conductor.output()));
  });

  it('live_restore, read at start only: daemon.config shows the value in force and lists it as waiting for a restart', async () => {
    const { head_seq } = await fixture.client.call('events.read', { limit: 1 });
    const events = fixture.client.subscribe({ since: head_seq, types: ['config.'] });
    const reload = async (cfg: Record<string, unknown>) => {
      fs.writeFileSync(path.join(fixture.home, 'config.json'), JSON.stringify({ dashboard_enabled: false, ...cfg }));
      process.kill(fixture.conductor.pid, 'SIGHUP');
      const [reloaded] = await collectUntil(events, (e) => e.type === 'config.reloaded');
      return { changed: reloaded!.data.changed, running: await fixture.client.call('daemon.config', {}) };
    };

    const turnedOn = await reload({ live_restore: true, max_concurrent_jobs: 2 });
    expect(turnedOn.changed).toEqual(['max_concurrent_jobs']);
    expect(turnedOn.running.max_concurrent_jobs).toBe(2);
    expect(turnedOn.running.live_restore).toBe(false);
    expect(turnedOn.running.pending_restart).toEqual(['live_restore']);
    await waitFor(() => /live_restore false → true not applied: read at start only/.test(fixture.conductor.output()));

    // Set back to the value in force: nothing waits any more.
    const turnedBack = await reload({ live_restore: false, max_concurrent_jobs: 2 });
    expect(turnedBack.changed).toEqual([]);
    expect(turnedBack.running.live_restore).toBe(false);
    expect(turnedBack.running.pending_restart).toEqual([]);
  });
});

async function freePort(): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** The status, or the connection error's code (ECONNREFUSED once the listener is gone). */
function statusOrError(url: string, token: string): Promise<number | string> {
  return new Promise((resolve) => {
    http
      .get(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('config reload of the dashboard keys', () => {
  it('a new token, dashboard_enabled: false and a taken port: applied for real, or refused by name', async () => {
    const dashHome = makeHome();
    const tokenA = 'a'.repeat(24);
    const tokenB = 'b'.repeat(24);
    const { port, server: probe } = await freePort();
    await new Promise((r) => probe.close(r));
    const write = (cfg: Record<string, unknown>) => fs.writeFileSync(path.join(dashHome, 'config.json'), JSON.stringify({ dashboard_enabled: true, dashboard_port: port, ...cfg }));
    const c = await startConductor(dashHome, { config: { dashboard_enabled: true, dashboard_port: port, dashboard_token: tokenA } });
    const blocker = await freePort();
    const dc = await DaemonClient.connect({ socketPath: c.socketPath, reconnect: false });
    try {
      const base = `http://127.0.0.1:${port}/api/status`;
      expect(await statusOrError(base, tokenA)).toBe(200);
      const { head_seq } = await dc.call('events.read', { limit: 1 });
      const events = dc.subscribe({ since: head_seq, types: ['config.'] });

      // A new token: the old one stops working at once, the new one works, the URL says so.
      write({ dashboard_token: tokenB });
      process.kill(c.pid, 'SIGHUP');
      const [first] = await collectUntil(events, (e) => e.type === 'config.reloaded');
      expect(first!.data.changed).toEqual(['dashboard_token']);
      expect(await statusOrError(base, tokenA)).toBe(401);
      expect(await statusOrError(base, tokenB)).toBe(200);
      expect((await dc.call('daemon.status', {})).dashboard_url).toBe(`http://127.0.0.1:${port}/?token=${tokenB}`);

      // Disabled: nothing listens any more.
      write({ dashboard_enabled: false, dashboard_token: tokenB });
      process.kill(c.pid, 'SIGHUP');
      const [second] = await collectUntil(events, (e) => e.type === 'config.reloaded');
      expect(second!.data.changed).toEqual(['dashboard_enabled']);
      expect(await statusOrError(base, tokenB)).toBe('ECONNREFUSED');
      expect((await dc.call('daemon.status', {})).dashboard_url).toBeNull();

      write({ dashboard_token: tokenB });
      process.kill(c.pid, 'SIGHUP');
      const [third] = await collectUntil(events, (e) => e.type === 'config.reloaded');
      expect(third!.data.changed).toEqual(['dashboard_enabled']);
      expect(await statusOrError(base, tokenB)).toBe(200);

      // A port that is taken cannot be applied: refused by name, the dashboard keeps its port.
      write({ dashboard_token: tokenB, dashboard_port: blocker.port, max_concurrent_jobs: 3 });
      process.kill(c.pid, 'SIGHUP');
      const [failed] = await collectUntil(events, (e) => e.type === 'config.reload_failed');
      expect(failed!.data.keys).toEqual(['dashboard_port']);
      expect(String(failed!.data.error)).toMatch(/dashboard_port not applied: 127\.0\.0\.1:\d+ is in use/);
      const [rest] = await collectUntil(events, (e) => e.type === 'config.reloaded');
      expect(rest!.data.changed).toEqual(['max_concurrent_jobs']);
      const running = await dc.call('daemon.config', {});
      expect(running.dashboard_port).toBe(port);
      expect(running.max_concurrent_jobs).toBe(3);
      expect(await statusOrError(base, tokenB)).toBe(200);
    } finally {
      blocker.server.close();
      await dc.close();
      await c.stop();
      removeHome(dashHome);
    }
  });
});
