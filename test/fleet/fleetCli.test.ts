/**
 * `mzt fleet status|jobs|subscribe` against a real nats-server with two real conductors,
 * run from a home with no conductor (the fleet is read from NATS alone).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { useNatsServer } from '../helpers/natsServer.js';

const run = promisify(execFile);
let emptyHome: string;
const homes: string[] = [];
const conductors: Record<string, RunningConductor> = {};

async function mzt(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: emptyHome }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

// Registered before the conductors' hooks: NATS goes after they stop.
const nats = useNatsServer();

beforeAll(async () => {
  emptyHome = makeHome();
  for (const host of ['h1', 'h2']) {
    const home = makeHome();
    homes.push(home);
    conductors[host] = await startConductor(home, { config: { fleet: { nats_url: nats.url, host } } });
  }
}, 120_000);

afterAll(async () => {
  for (const c of Object.values(conductors)) await c.stop();
  for (const h of [...homes, emptyHome]) if (h) removeHome(h);
});

describe('mzt fleet', () => {
  it('status lists both live hosts; jobs shows a job on the host that runs it; subscribe replays its events', async () => {
    const status = await waitFor(async () => {
      const r = await mzt(['fleet', 'status', '--json', '--nats', nats.url]);
      const hosts = r.code === 0 ? (JSON.parse(r.stdout) as Array<{ host: string; pid: number; max_concurrent_jobs: number }>) : [];
      return hosts.length === 2 ? hosts : undefined;
    }, 20_000, 'two hosts');
    expect(status.map((h) => h.host)).toEqual(['h1', 'h2']);
    expect(status[0]!.pid).toBe(conductors.h1!.pid);

    const client = await DaemonClient.connect({ socketPath: conductors.h1!.socketPath, reconnect: false });
    const { job_id } = await client.call('job.submit', { name: 'fleet-visible', sheets: [{ argv: ['sh', '-c', 'echo hi'] }] });
    await waitFor(async () => (await client.call('job.get', { job_id })).status === 'completed', 10_000, 'completed');
    await client.close();
    const jobs = await waitFor(async () => {
      const r = await mzt(['fleet', 'jobs', '--json', '--nats', nats.url]);
      const rows = JSON.parse(r.stdout) as Array<{ host: string; job_id: string; status: string }>;
      return rows.find((j) => j.job_id === job_id && j.status === 'completed') ? rows : undefined;
    }, 20_000, 'the job in fleet jobs');
    expect(jobs.find((j) => j.job_id === job_id)!.host).toBe('h1');

    const sub = await waitFor(async () => {
      const r = await mzt(['fleet', 'subscribe', '--no-follow', '--host', 'h1', '--job', job_id, '--nats', nats.url]);
      const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; host: string; seq: number; stream_seq: number });
      return lines.some((l) => l.type === 'job.completed') ? lines : undefined;
    }, 20_000, 'the job events in the stream');
    expect(sub[0]!.type).toBe('job.submitted');
    expect(sub.every((l) => l.host === 'h1')).toBe(true);
    const seqs = sub.map((l) => l.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  }, 90_000);

  it('logs come from the conductor that ran the job, in bounded pages; errors name the hosts', async () => {
    const client = await DaemonClient.connect({ socketPath: conductors.h2!.socketPath, reconnect: false });
    // ~2.4 MB of output: several 512 KiB answers.
    const { job_id } = await client.call('job.submit', { name: 'loud', sheets: [{ argv: ['seq', '1', '300000'] }] });
    await waitFor(async () => (await client.call('job.get', { job_id })).status === 'completed', 20_000, 'completed');
    await client.close();
    // The last lines: the sheet's last output, then the conductor's own (sys) line on its end.
    const tail = await mzt(['fleet', 'logs', job_id, '--tail', '5', '--nats', nats.url]);
    expect(tail.code).toBe(0);
    const tailLines = tail.stdout.trim().split('\n');
    expect(tailLines).toHaveLength(5);
    expect(tailLines.map((l) => l.split(' ').at(-1)).filter((t) => /^\d+$/.test(t!)).slice(-3)).toEqual(['299998', '299999', '300000']);
    const all = await mzt(['fleet', 'logs', job_id, '--all', '--nats', nats.url]);
    const numbers = all.stdout.trim().split('\n').map((l) => l.split(' ').at(-1)).filter((t) => /^\d+$/.test(t!));
    expect(numbers).toHaveLength(300000);
    expect(numbers[0]).toBe('1');
    expect(numbers.at(-1)).toBe('300000');
    // The host checks the request as job.logs checks its params: same bound, same message.
    const tooMany = await mzt(['fleet', 'logs', job_id, '--tail', '50000', '--host', 'h2', '--nats', nats.url]);
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.stderr).toContain('h2: invalid params: "tail_lines" must be at most 10000, got 50000');
    const unknown = await mzt(['fleet', 'logs', 'no-such-job', '--nats', nats.url]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('job no-such-job was not found on any live host (asked h1, h2)');
  }, 90_000);

  it('a stopped conductor leaves the host table', async () => {
    await conductors.h2!.stop();
    const hosts = await waitFor(async () => {
      const r = await mzt(['fleet', 'status', '--json', '--nats', nats.url]);
      const rows = JSON.parse(r.stdout) as Array<{ host: string }>;
      return rows.length === 1 ? rows : undefined;
    }, 20_000, 'h2 gone');
    expect(hosts[0]!.host).toBe('h1');
    const down = await mzt(['fleet', 'logs', 'any-job', '--host', 'h2', '--nats', nats.url]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/not answering: h2 .*its conductor is down/);
  }, 60_000);

  it('an unreachable NATS server is a clear error, and so is no server to ask', async () => {
    const down = await mzt(['fleet', 'status', '--nats', 'nats://127.0.0.1:1']);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain("cannot reach the fleet's NATS server at nats://127.0.0.1:1");
    const none = await mzt(['fleet', 'status']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('no NATS server to ask');
  }, 60_000);
});
