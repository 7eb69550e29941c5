/**
 * Starting is safe to poke: a SIGHUP (config reload) during start-up does not kill the
 * conductor, and a refused `start --detach` says which conductor is in the way.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, makeHome, removeHome, startConductor, waitFor } from '../helpers/conductorProcess.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Does the process catch SIGHUP (bit 0 of SigCgt in /proc/PID/status)? */
function catchesSighup(pid: number): boolean {
  try {
    const m = /SigCgt:\s+([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

describe('signals while starting', () => {
  it('catches SIGHUP long before it is ready, and comes up ready through a stream of them', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    const spawnedAt = Date.now();
    let proc: ChildProcess | undefined;
    let caughtAfterMs: number | undefined;
    let sent = 0;
    let lastSentAt = 0;
    // From the moment the process catches SIGHUP, one every 20 ms through the whole start.
    const poll = setInterval(() => {
      if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return;
      if (caughtAfterMs === undefined) {
        if (!catchesSighup(proc.pid)) return;
        caughtAfterMs = Date.now() - spawnedAt;
      }
      if (Date.now() - lastSentAt < 20) return;
      proc.kill('SIGHUP');
      lastSentAt = Date.now();
      sent++;
    }, 2);
    cleanups.push(() => clearInterval(poll));
    const c = await startConductor(home, { onSpawn: (p) => (proc = p) });
    cleanups.push(() => c.stop());
    const sentBeforeReady = sent;
    const readyAfterMs = Date.now() - spawnedAt;
    await new Promise((r) => setTimeout(r, 300)); // and a few after
    clearInterval(poll);

    const timing = `SIGHUP caught after ${caughtAfterMs} ms, ready after ${readyAfterMs} ms, ${sentBeforeReady} sent before ready`;
    expect(caughtAfterMs, timing).toBeDefined();
    expect(sentBeforeReady, timing).toBeGreaterThanOrEqual(3);
    expect(c.proc.exitCode, timing).toBeNull();
    expect(c.proc.signalCode, timing).toBeNull();
    // Still answering, and the signals did what SIGHUP does: reload the config.
    const r = spawnSync(process.execPath, [CLI, 'call', 'daemon.status'], { env: { ...process.env, MZT_HOME: home }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).pid).toBe(c.pid);
    await waitFor(() => /config reloaded/.test(c.output()), 10_000, 'a config reload in the log');
  }, 60_000);

  it('a second start --detach is refused with the live conductor pid', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    const c = await startConductor(home);
    cleanups.push(() => c.stop());
    const r = spawnSync(process.execPath, [CLI, 'conductor', 'start', '--detach'], {
      env: { ...process.env, MZT_HOME: home },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`already running on .*conductor\\.sock \\(pid ${c.pid}\\)`));
    expect(c.proc.exitCode).toBeNull();
  }, 60_000);

  it('a start --detach that fails says why, from what the conductor wrote', async () => {
    const home = makeHome();
    cleanups.push(() => removeHome(home));
    fs.writeFileSync(`${home}/config.json`, JSON.stringify({ no_such_key: 1 }));
    const r = spawnSync(process.execPath, [CLI, 'conductor', 'start', '--detach'], {
      env: { ...process.env, MZT_HOME: home },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/the conductor exited \(code 1\): .*config\.json: unknown key "no_such_key"/);
  }, 60_000);
});
