/**
 * `mzt fleet cancel` against a real nats-server and two real conductors, run from a home with
 * no conductor: the host that has the job cancels it as `mzt cancel` would there, and every
 * other outcome (already ended, still queued, nowhere, host not answering, a refused request)
 * is said with its exit code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FleetClient } from '../../src/fleet/client.js';
import { runMzt } from '../helpers/cli.js';
import { waitFor } from '../helpers/conductorProcess.js';
import { useConductorSet, type StartedConductor } from '../helpers/conductorSet.js';
import { useNatsServer } from '../helpers/natsServer.js';

// Registered before the conductors' hooks: NATS goes after they stop.
const nats = useNatsServer();
const fleet = useConductorSet();
const hosts: Record<string, StartedConductor> = {};
let emptyHome: string;
// --nats before the rest: after `--` come the job's own arguments.
const mzt = ([group, command, ...rest]: string[]) => runMzt(emptyHome, [group!, command!, '--nats', nats.url, ...rest]);
const onHost = <T>(host: string, fn: (client: StartedConductor['client']) => Promise<T>) => fn(hosts[host]!.client);
const statusOn = (host: string, job_id: string) => onHost(host, async (c) => (await c.call('job.get', { job_id })).status);

beforeAll(async () => {
  emptyHome = fleet.newHome();
  for (const host of ['c1', 'c2']) hosts[host] = await fleet.start({ config: { fleet: { nats_url: nats.url, host } } });
  await waitFor(async () => {
    const r = await mzt(['fleet', 'status', '--json']);
    return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length === 2;
  }, 30_000, 'two hosts');
}, 120_000);

describe('mzt fleet cancel', () => {
  it('cancels a job on the host that took it from the queue, as mzt cancel does there; a second cancel says it had ended', async () => {
    const queued = await mzt(['fleet', 'submit', '--host', 'c2', '--id', 'fc-run', '--', 'sleep', '60']);
    expect(queued.code).toBe(0);
    await waitFor(async () => (await statusOn('c2', 'fc-run').catch(() => undefined)) === 'running', 30_000, 'running on c2');
    const r = await mzt(['fleet', 'cancel', 'fc-run']);
    expect(r).toMatchObject({ code: 0, stdout: 'fc-run cancelled on host c2\n' });
    expect(await statusOn('c2', 'fc-run')).toBe('cancelled');
    const reason = await onHost('c2', async (c) => (await c.call('job.get', { job_id: 'fc-run' })).reason);
    expect(reason).toMatch(/^cancelled by mzt fleet cancel from /);

    const again = await mzt(['fleet', 'cancel', 'fc-run', '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({ outcome: 'ended', job_id: 'fc-run', host: 'c2', status: 'cancelled' });
    const plain = await mzt(['fleet', 'cancel', 'fc-run']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('job fc-run had already ended on host c2 (cancelled)');
  }, 90_000);

  it('a job that ended on its own is not cancelled: the answer gives its status', async () => {
    const { job_id } = await onHost('c1', (c) => c.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'exit 4'] }] }));
    await waitFor(async () => (await statusOn('c1', job_id)) === 'failed', 10_000, 'failed');
    const r = await mzt(['fleet', 'cancel', job_id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`job ${job_id} had already ended on host c1 (failed)`);
    expect(await statusOn('c1', job_id)).toBe('failed');
  }, 60_000);

  it('a job still on the queue is said to be there, and stays; an unknown id is nowhere', async () => {
    expect((await mzt(['fleet', 'submit', '--host', 'nobody', '--id', 'fc-queued', '--', 'true'])).code).toBe(0);
    const queued = await mzt(['fleet', 'cancel', 'fc-queued']);
    expect(queued.code).toBe(1);
    expect(queued.stderr).toContain("job fc-queued is still on the fleet's queue (mzt_work.host.nobody), taken by no host; a queued job cannot be cancelled yet");
    expect((await mzt(['fleet', 'cancel', 'fc-queued'])).stderr).toContain("job fc-queued is still on the fleet's queue");
    const nowhere = await mzt(['fleet', 'cancel', 'fc-nowhere']);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain("no job fc-nowhere on any live host (asked c1, c2) nor on the fleet's queue");
  }, 60_000);

  it('the request is checked by job.cancel\'s schema on the host, with the socket\'s message', async () => {
    const client = await FleetClient.connect(nats.url);
    try {
      await expect(client.cancel({ job_id: 'fc-any', reason: 'x'.repeat(501) }, { host: 'c1', timeoutMs: 5000 })).rejects.toThrow(
        /^c1: invalid params: "reason" must be at most 500 characters/,
      );
    } finally {
      await client.close();
    }
    await expect(onHost('c1', (c) => c.call('job.cancel', { job_id: 'fc-any', reason: 'x'.repeat(501) }))).rejects.toThrow('invalid params: "reason" must be at most 500 characters');
    const badId = await mzt(['fleet', 'cancel', 'no such id', '--host', 'c1']);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toContain('c1: invalid params: "job_id"');
  }, 60_000);

  it('a host that does not answer within --timeout exits 3, like mzt cancel with no conductor', async () => {
    const gone = await mzt(['fleet', 'cancel', 'fc-x', '--host', 'ghost']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/not answering: ghost .*its conductor is down, stuck or not in the fleet/);

    const { job_id } = await onHost('c1', (c) => c.call('job.submit', { sheets: [{ argv: ['sleep', '60'] }] }));
    await waitFor(async () => (await statusOn('c1', job_id)) === 'running', 10_000, 'running');
    process.kill(hosts.c1!.conductor.pid, 'SIGSTOP');
    const started = Date.now();
    let stuck;
    try {
      stuck = await mzt(['fleet', 'cancel', job_id, '--host', 'c1', '--timeout', '2']);
    } finally {
      process.kill(hosts.c1!.conductor.pid, 'SIGCONT');
    }
    const tookMs = Date.now() - started;
    expect(stuck.code).toBe(3);
    expect(stuck.stderr).toMatch(/not answering: c1 \(.*TIMEOUT.*\)/i);
    console.log(`mzt fleet cancel --timeout 2 against a stopped conductor exited after ${tookMs} ms`);
    expect(tookMs).toBeLessThan(10_000);
    // The request reached the stopped host: running again, it still acts on it, as the message warns.
    expect(stuck.stderr).toContain('a host that answers late may still cancel it');
    await waitFor(async () => (await statusOn('c1', job_id)) === 'cancelled', 20_000, 'cancelled once c1 runs again');
  }, 90_000);
});
