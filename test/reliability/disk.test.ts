/**
 * Disk trouble: the conductor's writes start failing mid-run (a file-size limit set on the
 * running conductor with prlimit — root ignores file modes, so chmod would prove nothing).
 * It reports degraded health and clear errors, keeps serving reads, and recovers when the
 * limit is lifted, losing nothing it had acknowledged.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ client: false, env: { MZT_DEBUG_METHODS: '1' } });
// Registered after the fixture, so it runs before the conductor is stopped: lift the file size limit the test set.
afterAll(() => {
  try {
    execFileSync('prlimit', ['--pid', String(fixture.conductor.pid), '--fsize=unlimited:unlimited']);
  } catch {
    /* already gone */
  }
});

describe('disk trouble', () => {
  it('degrades with clear errors when writes fail, serves reads, and recovers losing nothing acknowledged', async () => {
    const client = await DaemonClient.connect({ socketPath: fixture.conductor.socketPath });
    let acknowledged = (await client.call('debug.emit', { count: 100, size: 100 })).last_seq as number;
    const limit = Math.max(...['events.db', 'events.db-wal'].map((f) => fs.statSync(path.join(fixture.home, f)).size)) + 256 * 1024;
    execFileSync('prlimit', ['--pid', String(fixture.conductor.pid), `--fsize=${limit}:unlimited`]);

    // Fill until even a single small event cannot be written (big batches first, then small).
    let failure: RpcError | undefined;
    for (const [count, size] of [[500, 1000], [20, 200], [1, 10]] as const) {
      for (let i = 0; i < 500; i++) {
        try {
          acknowledged = (await client.call('debug.emit', { count, size })).last_seq;
        } catch (err) {
          failure = err as RpcError;
          break;
        }
      }
    }
    expect(failure, 'writes should start failing under the file-size limit').toBeInstanceOf(RpcError);
    expect(failure!.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(failure!.message).toMatch(/event store write failed/);

    const health = await client.call('daemon.health', {});
    expect(health.ready).toBe(false);
    expect(health.reasons.join(' ')).toMatch(/event store not writable/);
    const submit = await client.call('job.submit', { sheets: [{ argv: ['true'] }] }).catch((e) => e);
    expect(submit.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    // Reads keep working.
    const page = await client.call('events.read', { since: acknowledged - 10, limit: 10 });
    expect(page.events.at(-1).seq).toBe(acknowledged);
    expect((await client.call('daemon.status', {})).storage.writable).toBe(false);

    // Space returns: writes work again, and the log is gap-free through the trouble.
    execFileSync('prlimit', ['--pid', String(fixture.conductor.pid), '--fsize=unlimited:unlimited']);
    const after = await waitFor(async () => {
      try {
        return (await client.call('debug.emit', { count: 10, size: 10 })).first_seq as number;
      } catch {
        return 0;
      }
    }, 10_000, 'writes to work again');
    expect(after).toBe(acknowledged + 1);
    await waitFor(async () => (await client.call('daemon.health', {})).ready, 10_000, 'readiness');
    let since = 0;
    let expected = 1;
    for (;;) {
      const p = await client.call('events.read', { since, limit: 1000 });
      for (const e of p.events) expect(e.seq).toBe(expected++);
      since = p.next_since;
      if (!p.has_more) break;
    }
    expect(expected - 1).toBeGreaterThanOrEqual(acknowledged + 10);
    console.log(`disk: writes failed at a ${(limit / 1024).toFixed(0)} KiB file-size limit after seq ${acknowledged} ("${failure!.message}"); reads served meanwhile; recovered at seq ${after}, log gap-free to ${expected - 1}`);
    expect(fixture.conductor.proc.exitCode).toBeNull();
    await client.close();
  });
});
