/**
 * Degraded mode under a real conductor: its probe's /proc (MZT_PROC_ROOT, a symlink to /proc)
 * is taken away mid-run and given back. The monitor degrades after repeated failed checks,
 * refuses work (fail-closed) with a reason, health says not ready, and all of it recovers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { collectUntil } from '../helpers/collect.js';
import { makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';

let home: string;
let procLink: string;
let conductor: RunningConductor;
let client: DaemonClient;

beforeAll(async () => {
  home = makeHome();
  procLink = path.join(home, 'proc');
  fs.symlinkSync('/proc', procLink);
  conductor = await startConductor(home, {
    env: { MZT_PROC_ROOT: procLink },
    config: { profiler_interval_seconds: 0.1, monitor_interval_seconds: 0.1 },
  });
  client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
});

afterAll(async () => {
  await client?.close();
  await conductor?.stop();
  removeHome(home);
});

describe('degraded mode', () => {
  it('degrades when the probe fails, refuses work, recovers when it works again', async () => {
    await waitFor(async () => (await client.call('daemon.health', {})).ready, 10_000, 'ready');
    const { head_seq } = await client.call('events.read', { limit: 1 });
    const events = client.subscribe({ since: head_seq, types: ['monitor.degraded', 'monitor.recovered'] });

    // Take /proc away from the probe.
    fs.rmSync(procLink);
    fs.mkdirSync(procLink);
    const [degraded] = await collectUntil(events, (e) => e.type === 'monitor.degraded', 15_000);
    expect(degraded!.data.consecutive_failures).toBeGreaterThanOrEqual(5);
    expect(String(degraded!.data.error)).not.toBe('');
    const health = await client.call('daemon.health', {});
    expect(health.ready).toBe(false);
    expect(health.reasons.join(' ')).toMatch(/degraded/);
    const refused = await client.call('job.submit', { sheets: [{ argv: ['true'] }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RpcError);
    expect((refused as RpcError).code).toBe(-32001);
    expect((refused as RpcError).message).toMatch(/not accepting work/);

    // Give it back.
    fs.rmdirSync(procLink);
    fs.symlinkSync('/proc', procLink);
    const [recovered] = await collectUntil(events, (e) => e.type === 'monitor.recovered', 15_000);
    expect(recovered!.data.after_failures).toBeGreaterThanOrEqual(5);
    await waitFor(async () => (await client.call('daemon.health', {})).ready, 10_000, 'ready again');
    const accepted = await client.call('job.submit', { sheets: [{ argv: ['true'] }] });
    expect(['queued', 'running']).toContain(accepted.status);
  });
});
