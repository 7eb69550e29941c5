/**
 * Only the owner gets in, and a live conductor is never replaced.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeHome, removeHome, startConductor, type RunningConductor } from '../helpers/conductorProcess.js';
import { RawClient } from '../helpers/rawClient.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('single instance and permissions', () => {
  it('creates the socket 0600 inside a 0700 directory', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    const c = await startConductor(home);
    cleanups.push(() => c.stop());
    expect(fs.statSync(path.join(home, 'run')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(c.socketPath).mode & 0o777).toBe(0o600);
  });

  it('refuses to start a second conductor while one is live, and the first keeps its socket', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    const first = await startConductor(home);
    cleanups.push(() => first.stop());
    await expect(startConductor(home, { timeoutMs: 10_000 })).rejects.toThrow(/already running/);
    const c = await RawClient.connect(first.socketPath);
    c.request(1, 'hello', {});
    const [, , error, result] = await c.response(1);
    expect(error).toBeNull();
    expect(result.pid).toBe(first.pid);
    c.close();
  });

  it('replaces a stale socket left by a crashed conductor', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    const first = await startConductor(home);
    await first.kill9();
    expect(fs.existsSync(first.socketPath)).toBe(true); // left behind by the crash
    const second = await startConductor(home);
    cleanups.push(() => second.stop());
    expect(second.output()).toMatch(/removing stale socket/);
  });

  it('does not mistake a socket owned by another program for a live conductor', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    fs.mkdirSync(path.join(home, 'run'), { mode: 0o700 });
    const sockPath = path.join(home, 'run', 'conductor.sock');
    // Something that accepts connections but never answers hello.
    const squatter = net.createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => squatter.listen(sockPath, r));
    cleanups.push(() => void squatter.close());
    const c = await startConductor(home);
    cleanups.push(() => c.stop());
    expect(c.output()).toMatch(/removing stale socket/);
  });
});
