/**
 * Graceful shutdown: running jobs are interrupted (their process groups stopped), clients
 * are told, the store is flushed, the socket and pid file are removed, and the exit code is 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { RawClient } from '../helpers/rawClient.js';
import { makeHome, pidAlive, removeHome, startConductor, waitFor } from '../helpers/conductorProcess.js';

const home = makeHome();
afterAll(() => removeHome(home));

describe('graceful shutdown', () => {
  it('on SIGTERM interrupts running jobs, tells clients and exits 0', async () => {
    const conductor = await startConductor(home, { config: { kill_grace_seconds: 1 } });
    const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
    const pidFile = path.join(home, 'sheet.pid');
    const { job_id } = await client.call('job.submit', { sheets: [{ argv: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 60`] }] });
    const sheetPid = await waitFor(() => {
      try {
        return Number(fs.readFileSync(pidFile, 'utf8')) || 0;
      } catch {
        return 0;
      }
    });
    const watcher = await RawClient.connect(conductor.socketPath);
    watcher.request(1, 'daemon.monitor.stream', {});
    await watcher.response(1);

    process.kill(conductor.pid, 'SIGTERM');
    const { code } = await conductor.exited;
    expect(code).toBe(0);
    expect(pidAlive(sheetPid)).toBe(false);
    expect(watcher.messages.some((m: any) => m[0] === 2 && m[1] === 'server.shutdown')).toBe(true);
    expect(fs.existsSync(conductor.socketPath)).toBe(false);
    expect(fs.existsSync(path.join(home, 'run', 'conductor.pid'))).toBe(false);
    watcher.close();
    await client.close();

    // Everything was recorded: the job was interrupted by the shutdown, not left running.
    const again = await startConductor(home);
    const c2 = await DaemonClient.connect({ socketPath: again.socketPath });
    const job = await c2.call('job.get', { job_id });
    expect(job.status).toBe('interrupted');
    expect(job.reason).toBe('conductor_shutdown');
    const { events } = await c2.call('events.read', { since: 0, limit: 1000, types: ['daemon.'] });
    expect(events.map((e) => e.type)).toEqual(['daemon.started', 'daemon.stopping', 'daemon.started']);
    await c2.close();
    await again.stop();
  });
});
