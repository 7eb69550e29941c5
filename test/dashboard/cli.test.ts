/** `mzt dashboard`: serves on its own, prints its address, stops cleanly, names a taken port. */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { httpGet } from '../helpers/sse.js';

const fixture = useConductor();

describe('mzt dashboard', () => {
  it('prints its address, serves the conductor it finds, and exits 0 on SIGTERM', async () => {
    const proc = spawn(process.execPath, [CLI, 'dashboard', '--port', '0'], { env: { ...process.env, MZT_HOME: fixture.home } });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const url = await waitFor(() => /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], 10_000, 'address printed');
    await waitFor(async () => JSON.parse((await httpGet(`${url}api/status`)).body).connected === true, 10_000, 'connected');
    const status = JSON.parse((await httpGet(`${url}api/status`)).body);
    expect(status.conductor.pid).toBe(fixture.conductor.pid);
    expect((await httpGet(url)).body).toContain('<title>mzt conductor</title>');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [CLI, 'dashboard', '--port', String(port)], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`127.0.0.1:${port} is in use`);
    } finally {
      blocker.close();
    }
  });
});

describe("the conductor's own dashboard", () => {
  it('a taken port leaves the conductor running without one, and it says so', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const home = makeHome();
    try {
      const conductor = await startConductor(home, { config: { dashboard_enabled: true, dashboard_port: port } });
      try {
        expect(conductor.output()).toContain(`dashboard not started: 127.0.0.1:${port} is in use`);
        const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
        expect((await client.call('daemon.status', {})).dashboard_url).toBeNull();
        await client.close();
      } finally {
        await conductor.stop();
      }
    } finally {
      blocker.close();
      removeHome(home);
    }
  });
});
