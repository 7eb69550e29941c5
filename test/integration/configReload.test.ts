/**
 * SIGHUP reloads config.json; a bad file is rejected with a log line and an event, and the
 * running config is kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { collectUntil } from '../helpers/collect.js';
import { makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';

let home: string;
let conductor: RunningConductor;
let client: DaemonClient;

beforeAll(async () => {
  home = makeHome();
  conductor = await startConductor(home, { config: { max_concurrent_jobs: 4 } });
  client = await DaemonClient.connect({ socketPath: conductor.socketPath });
});

afterAll(async () => {
  await client?.close();
  await conductor?.stop();
  removeHome(home);
});

describe('config reload on SIGHUP', () => {
  it('applies a valid file and rejects a broken one', async () => {
    expect((await client.call('daemon.config', {})).max_concurrent_jobs).toBe(4);
    const { head_seq } = await client.call('events.read', { limit: 1 });
    const events = client.subscribe({ since: head_seq, types: ['config.'] });

    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, max_concurrent_jobs: 1 }));
    process.kill(conductor.pid, 'SIGHUP');
    const [reloaded] = await collectUntil(events, (e) => e.type === 'config.reloaded');
    expect(reloaded!.data.changed).toEqual(['max_concurrent_jobs']);
    expect((await client.call('daemon.config', {})).max_concurrent_jobs).toBe(1);

    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ max_concurrent_jobs: 'lots' }));
    process.kill(conductor.pid, 'SIGHUP');
    const [failed] = await collectUntil(events, (e) => e.type === 'config.reload_failed');
    expect(String(failed!.data.error)).toMatch(/max_concurrent_jobs/);
    expect((await client.call('daemon.config', {})).max_concurrent_jobs).toBe(1);
    await waitFor(() => /config reload rejected/.test(conductor.output()));
  });
});
