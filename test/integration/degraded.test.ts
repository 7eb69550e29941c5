/**
 * Degraded mode under a real conductor: its probe's /proc (MZT_PROC_ROOT, a symlink to /proc)
 * is taken away mid-run and given back. The monitor degrades after repeated failed checks,
 * refuses work (fail-closed) with a reason, health says not ready, and all of it recovers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../../src/ipc/client.js';
import { collectUntil } from '../helpers/collect.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

let procLink: string;
const fixture = useConductor({
  client: { reconnect: false },
  prepare: (home) => {
    procLink = path.join(home, 'proc');
    fs.symlinkSync('/proc', procLink);
    return { env: { MZT_PROC_ROOT: procLink } };
  },
  config: { profiler_interval_seconds: 0.1, monitor_interval_seconds: 0.1 },
});

describe('degraded mode', () => {
  it('degrades when the probe fails, refuses work, recovers when it works again', async () => {
    await waitFor(async () => (await fixture.client.call('daemon.health', {})).ready, 10_000, 'ready');
    const { head_seq } = await fixture.client.call('events.read', { limit: 1 });
    const events = fixture.client.subscribe({ since: head_seq, types: ['monitor.degraded', 'monitor.recovered'] });

    // Take /proc away from the probe.
    fs.rmSync(procLink);
    fs.mkdirSync(procLink);
    const [degraded] = await collectUntil(events, (e) => e.type === 'monitor.degraded', 15_000);
    expect(degraded!.data.consecutive_failures).toBeGreaterThanOrEqual(5);
    expect(String(degraded!.data.error)).not.toBe('');
    const health = await fixture.client.call('daemon.health', {});
    expect(health.ready).toBe(false);
    expect(health.reasons.join(' ')).toMatch(/degraded/);
    const refused = await fixture.client.call('job.submit', { sheets: [{ argv: ['true'] }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RpcError);
    expect((refused as RpcError).code).toBe(-32001);
    expect((refused as RpcError).message).toMatch(/not accepting work/);

    // Give it back.
    fs.rmdirSync(procLink);
    fs.symlinkSync('/proc', procLink);
    const [recovered] = await collectUntil(events, (e) => e.type === 'monitor.recovered', 15_000);
    expect(recovered!.data.after_failures).toBeGreaterThanOrEqual(5);
    await waitFor(async () => (await fixture.client.call('daemon.health', {})).ready, 10_000, 'ready again');
    const accepted = await fixture.client.call('job.submit', { sheets: [{ argv: ['true'] }] });
    expect(['queued', 'running']).toContain(accepted.status);
  });
});
