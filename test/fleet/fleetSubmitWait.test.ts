/**
 * `mzt fleet submit --wait` against a real nats-server and two real conductors, run from a home
 * with no conductor: the output of the job comes back from whichever host took it, mzt exits
 * with the job's exit code (128+signal when killed), Ctrl-C cancels it wherever it runs, and
 * every wait is bounded with a clear error (no host takes it, the NATS server gone).
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForFleetJob } from '../../src/cli/fleetWait.js';
import { FleetClient } from '../../src/fleet/client.js';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { startNatsServer, type NatsServer } from '../helpers/natsServer.js';

const run = promisify(execFile);
let nats: NatsServer;
let emptyHome: string;
const homes: string[] = [];
const conductors: Record<string, RunningConductor> = {};

interface Result {
  stdout: string;
  stderr: string;
  code: number;
}

async function mzt(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: emptyHome }, timeout: 90_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** A running `mzt fleet submit --wait`, to signal or to outlive its NATS server. */
function spawnWait(args: string[], home = emptyHome) {
  const proc = spawn(process.execPath, [CLI, 'fleet', 'submit', '--wait', '--nats', nats.url, ...args], { env: { ...process.env, MZT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited, stdout: () => stdout, stderr: () => stderr };
}

async function jobOn(host: string, job_id: string) {
  const client = await DaemonClient.connect({ socketPath: conductors[host]!.socketPath, reconnect: false });
  try {
    return await client.call('job.get', { job_id });
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  nats = await startNatsServer();
  emptyHome = makeHome();
  for (const host of ['w1', 'w2']) {
    const home = makeHome();
    homes.push(home);
    conductors[host] = await startConductor(home, { config: { fleet: { nats_url: nats.url, host } } });
  }
  // Both hosts in the table and exporting (the event stream exists) before any test submits.
  await waitFor(async () => {
    const r = await mzt(['fleet', 'status', '--json', '--nats', nats.url]);
    return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length === 2;
  }, 30_000, 'two hosts');
}, 120_000);

afterAll(async () => {
  for (const c of Object.values(conductors)) await c.stop();
  for (const h of [...homes, emptyHome]) if (h) removeHome(h);
  await nats?.dispose();
});

describe('mzt fleet submit --wait', () => {
  it("streams the job's stdout and stderr from the host that took it and exits with its exit code", async () => {
    const r = await mzt(['fleet', 'submit', '--wait', '--nats', nats.url, '--id', 'fw-exit3', '--', 'sh', '-c', 'for i in 1 2 3; do echo out$i; done; echo oops >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out1\nout2\nout3\n');
    expect(r.stderr).toContain('oops\n');
    const host = /fw-exit3 taken by host (w[12])/.exec(r.stderr)?.[1];
    expect(host).toBeDefined();
    expect(r.stderr).toContain(`mzt: job fw-exit3 failed`);
    // The record the host itself keeps agrees.
    const job = await jobOn(host!, 'fw-exit3');
    expect(job.status).toBe('failed');
    expect(job.sheets[0]!.exit_code).toBe(3);
  }, 90_000);

  it('a job pinned to a host runs there; killed by a signal it exits 128+signal; --json gives its record', async () => {
    const killed = await mzt(['fleet', 'submit', '--wait', '--host', 'w2', '--nats', nats.url, '--id', 'fw-killed', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(killed.code).toBe(128 + 15);
    expect(killed.stderr).toContain('fw-killed taken by host w2');
    const ok = await mzt(['fleet', 'submit', '--wait', '--json', '--host', 'w1', '--nats', nats.url, '--id', 'fw-json', '--', 'true']);
    expect(ok.code).toBe(0);
    const record = JSON.parse(ok.stdout) as { host: string; job_id: string; status: string };
    expect(record).toMatchObject({ host: 'w1', job_id: 'fw-json', status: 'completed' });
  }, 90_000);

  it('--quiet prints status lines, not the output', async () => {
    const r = await mzt(['fleet', 'submit', '--wait', '--quiet', '--host', 'w1', '--nats', nats.url, '--id', 'fw-quiet', '--', 'sh', '-c', 'echo hidden']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('fw-quiet queued on mzt_work.host.w1\nfw-quiet taken by host w1\nfw-quiet completed\n');
  }, 90_000);

  it('a job no host takes ends the wait after --claim-timeout; a second submit of the same id is refused', async () => {
    const started = Date.now();
    const r = await mzt(['fleet', 'submit', '--wait', '--host', 'nobody', '--claim-timeout', '2', '--nats', nats.url, '--id', 'fw-unclaimed', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('job fw-unclaimed was not taken by any host within 2 s');
    expect(Date.now() - started).toBeLessThan(15_000);
    const again = await mzt(['fleet', 'submit', '--wait', '--host', 'nobody', '--nats', nats.url, '--id', 'fw-unclaimed', '--', 'true']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('was queued before');
  }, 60_000);

  it('a job the taking host refuses ends the wait at once with the host and its reason', async () => {
    // mzt's own checks (job file, schema) would stop this job before the queue; a submitter of
    // another version may not: put it on the queue as such a one would, and wait as --wait does.
    const client = await FleetClient.connect(nats.url);
    try {
      const head = (await client.eventsHead())!;
      // Each backoff value is in the schema's range; only the conductor refuses a cap below the first delay.
      const job = { job_id: 'fw-refused', restart: { on: 'failure' as const, backoff: { initial_seconds: 10, max_seconds: 5 } }, sheets: [{ argv: ['true'] }] };
      await client.submit(job, { host: 'w2', from: 'test' });
      const started = Date.now();
      const waited = waitForFleetJob(client, 'fw-refused', head, { quiet: true, claimTimeoutSeconds: 60 });
      await expect(waited).rejects.toThrow('host w2 refused job fw-refused: invalid params: "restart.backoff.max_seconds" (5) must be at least "restart.backoff.initial_seconds" (10)');
      expect(Date.now() - started).toBeLessThan(30_000);
      // A label key job.submit refuses is refused on the fleet path too (it was recorded there).
      const head2 = (await client.eventsHead())!;
      await client.submit({ job_id: 'fw-badlabel', labels: { 'bad key': 'x' }, sheets: [{ argv: ['true'] }] }, { host: 'w2', from: 'test' });
      await expect(waitForFleetJob(client, 'fw-badlabel', head2, { quiet: true, claimTimeoutSeconds: 60 })).rejects.toThrow(
        'host w2 refused job fw-badlabel: invalid params: label key "bad key" must match',
      );
    } finally {
      await client.close();
    }
    const socket = await DaemonClient.connect({ socketPath: conductors.w1!.socketPath, reconnect: false });
    try {
      await expect(socket.call('job.submit', { labels: { 'bad key': 'x' }, sheets: [{ argv: ['true'] }] })).rejects.toThrow('invalid params: label key "bad key" must match');
    } finally {
      await socket.close();
    }
  }, 90_000);

  it('Ctrl-C cancels the job on the host that runs it, from a machine with no conductor, and waits for its end', async () => {
    const w = spawnWait(['--host', 'w2', '--id', 'fw-ctrlc', '--', 'sleep', '60']);
    await waitFor(() => w.stderr().includes('fw-ctrlc taken by host w2'), 30_000, 'the job taken');
    await waitFor(async () => (await jobOn('w2', 'fw-ctrlc')).status === 'running', 10_000, 'running');
    w.proc.kill('SIGINT');
    expect(await w.exited).toBe(128 + 15); // its sleep ended by the cancel's SIGTERM
    expect(w.stderr()).toContain('mzt: cancelling job fw-ctrlc on host w2 (Ctrl-C again to stop waiting)');
    expect((await jobOn('w2', 'fw-ctrlc')).status).toBe('cancelled');
  }, 60_000);

  it('Ctrl-C before any host took the job stops waiting and says it stays on the queue', async () => {
    const w = spawnWait(['--host', 'nobody', '--id', 'fw-unqueued', '--', 'true']);
    await waitFor(() => w.stderr().includes('fw-unqueued queued on'), 30_000, 'the job queued');
    w.proc.kill('SIGINT');
    expect(await w.exited).toBe(130);
    expect(w.stderr()).toContain("mzt: stopped waiting; job fw-unqueued is still on the fleet's queue (mzt_work.host.nobody), taken by no host");
  }, 60_000);

  it('a host that dies under its job ends the wait once it leaves the host table', async () => {
    const w = spawnWait(['--quiet', '--host', 'w2', '--id', 'fw-hostdies', '--', 'sleep', '90']);
    await waitFor(() => w.stdout().includes('fw-hostdies taken by host w2'), 30_000, 'the job taken');
    const pid = await waitFor(async () => (await jobOn('w2', 'fw-hostdies')).sheets[0]!.pid, 10_000, 'its sheet pid');
    const diedAt = Date.now();
    await conductors.w2!.kill9();
    try {
      expect(await w.exited).not.toBe(0);
      expect(w.stderr()).toContain('host w2 left the fleet (no heartbeat) before job fw-hostdies ended');
      console.log(`fleet submit --wait gave up ${Date.now() - diedAt} ms after its host was killed`);
    } finally {
      process.kill(pid, 'SIGKILL'); // the sheet outlived its conductor
    }
  }, 90_000);

  it('the NATS server going away ends the wait with a clear error', async () => {
    const w = spawnWait(['--host', 'w1', '--id', 'fw-natsgone', '--', 'sleep', '120']);
    await waitFor(() => w.stderr().includes('fw-natsgone taken by host w1'), 30_000, 'the job taken');
    const stoppedAt = Date.now();
    await nats.stop();
    const code = await w.exited;
    expect(code).not.toBe(0);
    const gaveUpMs = Date.now() - stoppedAt;
    expect(w.stderr()).toMatch(/lost the fleet's NATS server.*while waiting for job fw-natsgone; it keeps running on host w1/);
    console.log(`fleet submit --wait gave up ${gaveUpMs} ms after the NATS server stopped`);
    expect(gaveUpMs).toBeLessThan(25_000);
    await nats.restart();
  }, 120_000);
});
