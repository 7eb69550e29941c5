/**
 * Jobs for the whole fleet on a real nats-server with three real conductors: every job runs
 * exactly once, where there is room (a conductor at its max_concurrent_jobs takes none), a
 * pinned job runs on its host, a malformed message is refused and recorded, and a conductor
 * killed between taking a job and recording it loses nothing and doubles nothing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, removeHome, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { useConductorSet } from '../helpers/conductorSet.js';
import { useNatsServer } from '../helpers/natsServer.js';

const run = promisify(execFile);
let scratch: string;
const conductors: Record<string, RunningConductor> = {};
const clients: Record<string, DaemonClient> = {};
const ACK_WAIT_MS = 2000; // claims go stale after 2x this

async function mzt(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: scratch }, timeout: 30_000 });
  return stdout;
}

async function startHost(host: string, config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Promise<void> {
  ({ conductor: conductors[host], client: clients[host] } = await fleet.start({
    env: { MZT_FLEET_ACK_WAIT_MS: String(ACK_WAIT_MS), ...env },
    config: { fleet: { nats_url: nats.url, host }, ...config },
  }));
}

/** Lines "<host> <job id>" each sheet appended to ran.txt. */
function ranLines(): Array<{ host: string; job: string }> {
  const file = path.join(scratch, 'ran.txt');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [host, job] = l.split(' ');
    return { host: host!, job: job! };
  });
}

/** A sheet that burns a little CPU, then says which host ran which job. */
const sheet = (host: string) => `i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo "${host} $MZT_FLEET_JOB" >> ${path.join(scratch, 'ran.txt')}`;

const nats = useNatsServer();
beforeAll(() => {
  scratch = makeHome('mzt-fleet-work-');
});
afterAll(() => {
  if (scratch) removeHome(scratch);
});
// Registered after NATS: its conductors stop before the server goes.
const fleet = useConductorSet();

beforeAll(async () => {
  await startHost('w1', { max_concurrent_jobs: 2 });
  await startHost('w2', { max_concurrent_jobs: 2 });
  await startHost('w3', { max_concurrent_jobs: 1 });
}, 120_000);

async function fleetSubmit(name: string, extra: string[] = []): Promise<string> {
  // $MZT_HOME of the conductor that runs it names the host; the job id comes in through --env.
  const id = `${name}-${Math.random().toString(16).slice(2, 8)}`;
  const out = await mzt(['fleet', 'submit', '--nats', nats.url, '--id', id, '--env', `MZT_FLEET_JOB=${id}`, ...extra, '--', 'sh', '-c', sheet('$(basename $MZT_HOME)')]);
  expect(out).toContain(`${id} queued on`);
  return id;
}

describe('fleet work queue', () => {
  it('30 jobs run exactly once, spread over the hosts with room; a full host takes none', async () => {
    // w3 is full: its one slot holds a long local job.
    const busy = await clients.w3!.call('job.submit', { name: 'local-long', sheets: [{ argv: ['sleep', '60'] }] });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await fleetSubmit(`spread${i}`));
    await waitFor(() => ids.every((id) => ranLines().some((l) => l.job === id)), 90_000, 'all 30 jobs ran');
    await new Promise((r) => setTimeout(r, 3 * ACK_WAIT_MS)); // any redelivery would have run by now
    const lines = ranLines().filter((l) => ids.includes(l.job));
    expect(lines).toHaveLength(30);
    expect(new Set(lines.map((l) => l.job)).size).toBe(30);
    const byHome = new Map<string, number>();
    for (const l of lines) byHome.set(l.host, (byHome.get(l.host) ?? 0) + 1);
    const homeOf = (host: string) => path.basename(conductors[host]!.home);
    expect(byHome.get(homeOf('w3')) ?? 0).toBe(0);
    expect(byHome.get(homeOf('w1')) ?? 0).toBeGreaterThan(0);
    expect(byHome.get(homeOf('w2')) ?? 0).toBeGreaterThan(0);
    // Recorded as a normal job by the conductor that took it.
    const taker = (byHome.get(homeOf('w1')) ?? 0) > 0 ? 'w1' : 'w2';
    const one = lines.find((l) => l.host === homeOf(taker))!.job;
    expect((await clients[taker]!.call('job.get', { job_id: one })).status).toBe('completed');
    await clients.w3!.call('job.cancel', { job_id: busy.job_id });
  }, 150_000);

  it('a job pinned with --host runs on that host', async () => {
    const id = await fleetSubmit('pinned', ['--host', 'w3']);
    await waitFor(() => ranLines().some((l) => l.job === id), 30_000, 'pinned job ran');
    expect(ranLines().filter((l) => l.job === id).map((l) => l.host)).toEqual([path.basename(conductors.w3!.home)]);
  }, 60_000);

  it('a malformed message is refused and recorded; the conductors keep serving', async () => {
    const nc = await connect({ servers: nats.url });
    await nc.request('mzt_work.any', 'this is not a job', { timeout: 5000 }); // the JetStream ack
    await nc.close();
    const rejected = await waitFor(async () => {
      for (const host of ['w1', 'w2', 'w3']) {
        const { events } = await clients[host]!.call('events.read', { types: ['fleet.job_rejected'], limit: 10 });
        if (events.length > 0) return events[0]!;
      }
      return undefined;
    }, 20_000, 'fleet.job_rejected');
    expect(String(rejected.data.reason)).toMatch(/not JSON/);
    expect(rejected.data.subject).toBe('mzt_work.any');
    const after = await fleetSubmit('after-garbage');
    await waitFor(() => ranLines().some((l) => l.job === after), 30_000, 'a job after the garbage ran');
  }, 60_000);

  it('a conductor killed between taking a job and recording it: the job runs once, on another host', async () => {
    // w1..w3 are full (local jobs hold their slots); w4 holds every job it takes for 20 s
    // before recording it, so it is killed in between.
    const fillers: Array<[string, string]> = [];
    for (const [host, slots] of [['w1', 2], ['w2', 2], ['w3', 1]] as const) {
      for (let i = 0; i < slots; i++) fillers.push([host, (await clients[host]!.call('job.submit', { name: 'filler', sheets: [{ argv: ['sleep', '120'] }] })).job_id]);
    }
    await startHost('w4', { max_concurrent_jobs: 4 }, { MZT_TEST_FLEET_HOLD_AFTER_CLAIM_MS: '20000' });
    const id = await fleetSubmit('crash');
    await waitFor(() => new RegExp(`holding job ${id}`).test(conductors.w4!.output()), 20_000, 'w4 took the job');
    await clients.w4!.close();
    await conductors.w4!.kill9();
    // Room again on w1: the message comes back after the ack wait, the claim goes stale after
    // twice that, and w1 takes it over.
    for (const [host, jobId] of fillers.filter(([h]) => h === 'w1')) await clients[host]!.call('job.cancel', { job_id: jobId });
    await waitFor(() => ranLines().some((l) => l.job === id), 60_000, 'the job ran after the crash');
    await new Promise((r) => setTimeout(r, 3 * ACK_WAIT_MS));
    const ran = ranLines().filter((l) => l.job === id);
    expect(ran).toHaveLength(1);
    expect(ran[0]!.host).toBe(path.basename(conductors.w1!.home));
    expect((await clients.w1!.call('job.get', { job_id: id })).status).toBe('completed');
    expect(conductors.w1!.output()).toContain(`job ${id} was claimed by w4, which did not record it: taken over`);
    for (const [host, jobId] of fillers.filter(([h]) => h !== 'w1')) await clients[host]!.call('job.cancel', { job_id: jobId });
  }, 120_000);
});
