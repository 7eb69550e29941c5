/**
 * `mzt dashboard` prints the conductor's login URL; `mzt dashboard serve` serves on its own,
 * prints its address, stops cleanly, names a taken port.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, removeHome, startConductor, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { httpGet } from '../helpers/sse.js';

const fixture = useConductor({ client: false });

describe('mzt dashboard serve', () => {
  it('prints its address with the token, serves the conductor it finds, and exits 0 on SIGTERM', async () => {
    const proc = spawn(process.execPath, [CLI, 'dashboard', 'serve', '--port', '0'], { env: { ...process.env, MZT_HOME: fixture.home } });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const [url, token] = await waitFor(() => /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)\?token=([\w-]+)/.exec(out)?.slice(1), 10_000, 'address printed');
    // The token it generated is the one kept, owner-only, in the home's run directory.
    const tokenFile = path.join(fixture.home, 'run', 'dashboard.token');
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const auth = { authorization: `Bearer ${token}` };
    expect((await httpGet(`${url}api/status`)).status).toBe(401);
    await waitFor(async () => JSON.parse((await httpGet(`${url}api/status`, auth)).body).connected === true, 10_000, 'connected');
    const status = JSON.parse((await httpGet(`${url}api/status`, auth)).body);
    expect(status.conductor.pid).toBe(fixture.conductor.pid);
    expect((await httpGet(url!, auth)).body).toContain('<title>mzt conductor</title>');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [CLI, 'dashboard', 'serve', '--port', String(port)], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`127.0.0.1:${port} is in use`);
    } finally {
      blocker.close();
    }
  });
});

describe("the conductor's own dashboard", () => {
  it('`mzt dashboard` and `mzt conductor status` print its login URL; without one, `mzt dashboard` says so', async () => {
    const off = spawnSync(process.execPath, [CLI, 'dashboard'], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
    expect(off.status).toBe(1);
    expect(off.stderr).toMatch(/the conductor serves no dashboard .*mzt dashboard serve/);
    const home = makeHome();
    try {
      const conductor = await startConductor(home, { config: { dashboard_enabled: true, dashboard_port: 0 } });
      try {
        const env = { ...process.env, MZT_HOME: home };
        const token = fs.readFileSync(path.join(home, 'run', 'dashboard.token'), 'utf8').trim();
        const printed = spawnSync(process.execPath, [CLI, 'dashboard'], { env, encoding: 'utf8' });
        expect(printed.status).toBe(0);
        expect(printed.stdout).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/\\?token=${token}\n$`));
        const status = spawnSync(process.execPath, [CLI, 'conductor', 'status'], { env, encoding: 'utf8' });
        expect(status.stdout).toContain(`dashboard ${printed.stdout.trim()}`);
        // The log says where, never the token.
        expect(conductor.output()).toMatch(/dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(login URL: mzt dashboard\)/);
        expect(conductor.output()).not.toContain(token);
      } finally {
        await conductor.stop();
      }
    } finally {
      removeHome(home);
    }
  });


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
