/**
 * Orphans across restarts (kill -9 of the conductor makes them): a sheet that ignores SIGTERM,
 * and a sheet whose group leader exited while the conductor was down, leaving a member in its
 * group. The next start stops both; restarted again within the grace period, the start after
 * sends SIGKILL at once; with no second restart, SIGKILL comes after the grace period. Every
 * signal is a `process.kill` event with reason `orphan`.
 *
 * The conductor runs under a small subreaper (as under systemd or an init that reaps): the
 * leader that exits after the conductor died is reaped, so its pid is really gone — not a
 * zombie that still looks like the group's leader.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { CLI, makeHome, pidAlive, removeHome, waitFor } from '../helpers/conductorProcess.js';

const home = makeHome();
const groups: number[] = [];
const reapers: ChildProcess[] = [];

// Becomes a child subreaper (PR_SET_CHILD_SUBREAPER = 36), runs the conductor, and reaps every
// orphan until its stdin closes.
const REAPER = `
import ctypes, os, subprocess, sys, threading, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
subprocess.Popen(sys.argv[1:])
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.05)
`;

interface Conductor {
  pid: number;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}
let conductor: Conductor | undefined;

afterAll(async () => {
  await conductor?.stop();
  for (const r of reapers) r.stdin?.end();
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone, as it should be */
    }
  }
  removeHome(home);
});

/** Alive and not a zombie (an orphan whose parent does not reap it stays a zombie). */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const readPid = (file: string) =>
  waitFor(() => {
    try {
      return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  }, 15_000, `pid in ${path.basename(file)}`);

async function start(graceSeconds: number): Promise<DaemonClient> {
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, kill_grace_seconds: graceSeconds }));
  const reaper = spawn('python3', ['-c', REAPER, process.execPath, CLI, 'conductor', 'start'], {
    env: { ...process.env, MZT_HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  reapers.push(reaper);
  let out = '';
  reaper.stdout!.on('data', (d) => (out += d));
  reaper.stderr!.on('data', (d) => (out += d));
  await waitFor(() => / ready on /.test(out), 20_000, `the conductor to start:\n${out}`);
  const client = await DaemonClient.connect({ socketPath: path.join(home, 'run', 'conductor.sock'), reconnect: false });
  const pid = (await client.call('daemon.health', {})).pid as number;
  const gone = () => waitFor(() => !running(pid), 20_000, 'the conductor to exit');
  conductor = {
    pid,
    output: () => out,
    kill9: async () => {
      process.kill(pid, 'SIGKILL');
      await gone();
    },
    stop: async () => {
      if (!running(pid)) return;
      process.kill(pid, 'SIGTERM');
      await gone();
    },
  };
  return client;
}

async function orphanKills(client: DaemonClient, jobId: string): Promise<string[]> {
  const page = await client.call('events.read', { since: 0, limit: 1000, job_id: jobId, types: ['process.kill'] });
  return page.events.filter((e: { data: { reason: string } }) => e.data.reason === 'orphan').map((e: { data: { signal: string } }) => e.data.signal);
}

describe('orphans of a dead conductor', () => {
  it('are all stopped on restart, SIGKILL follows even across a second restart, and each signal is recorded', async () => {
    let client = await start(30);
    const f = (name: string) => path.join(home, name);
    // Ignores SIGTERM, and so does its sleep (an ignored signal stays ignored across exec).
    const stubborn = await client.call('job.submit', {
      name: 'stubborn',
      sheets: [{ argv: ['sh', '-c', `trap "" TERM; echo $$ > ${f('stubborn.pid')}; sleep 1000`] }],
    });
    // Its leader exits once the conductor is gone; a member stays in the group.
    const leaderless = await client.call('job.submit', {
      name: 'leaderless',
      sheets: [{ argv: ['sh', '-c', `echo $$ > ${f('leader.pid')}; sleep 1000 & echo $! > ${f('member.pid')}; while [ ! -e ${f('go')} ]; do sleep 0.05; done; exit 0`] }],
    });
    const stubbornPid = await readPid(f('stubborn.pid'));
    const leaderPid = await readPid(f('leader.pid'));
    const memberPid = await readPid(f('member.pid'));
    groups.push(stubbornPid, leaderPid);
    await waitFor(async () => (await client.call('job.get', { job_id: leaderless.job_id })).sheets[0].status === 'running', 15_000, 'sheets recorded running');
    await client.close();

    await conductor!.kill9();
    fs.writeFileSync(f('go'), '');
    await waitFor(() => !running(leaderPid), 10_000, 'the leader to exit');
    expect(running(memberPid)).toBe(true);

    // Restart 1 (grace 30 s): SIGTERM to both; the member goes, the stubborn sheet stays.
    client = await start(30);
    await waitFor(() => !running(memberPid), 15_000, 'the leaderless group member to be stopped');
    expect(running(stubbornPid)).toBe(true);
    expect(await orphanKills(client, stubborn.job_id)).toEqual(['SIGTERM']);
    expect(await orphanKills(client, leaderless.job_id)).toEqual(['SIGTERM']);
    expect((await client.call('job.get', { job_id: stubborn.job_id })).status).toBe('interrupted');
    await client.close();

    // Restart 2, well within restart 1's grace period: SIGKILL at once.
    await conductor!.kill9();
    expect(running(stubbornPid)).toBe(true);
    const restartedAt = Date.now();
    client = await start(30);
    await waitFor(() => !running(stubbornPid), 15_000, 'the stubborn sheet to be killed');
    const killedMs = Date.now() - restartedAt;
    expect(await orphanKills(client, stubborn.job_id)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(conductor!.output()).toMatch(/killing orphaned sheet .*with SIGKILL/);

    // Without a second restart: SIGTERM, then SIGKILL after the grace period (here 1 s).
    await conductor!.stop();
    client = await start(1);
    const another = await client.call('job.submit', {
      name: 'stubborn-2',
      sheets: [{ argv: ['sh', '-c', `trap "" TERM; echo $$ > ${f('stubborn2.pid')}; sleep 1000`] }],
    });
    const stubborn2 = await readPid(f('stubborn2.pid'));
    groups.push(stubborn2);
    await waitFor(async () => (await client.call('job.get', { job_id: another.job_id })).sheets[0].status === 'running', 15_000, 'sheet recorded running');
    await client.close();
    await conductor!.kill9();
    client = await start(1);
    await waitFor(() => !running(stubborn2), 15_000, 'the stubborn sheet to be killed after the grace period');
    await waitFor(async () => (await orphanKills(client, another.job_id)).length === 2, 10_000, 'both signals recorded');
    expect(await orphanKills(client, another.job_id)).toEqual(['SIGTERM', 'SIGKILL']);
    console.log(`orphans: second restart (grace 30 s) killed the SIGTERM-ignoring sheet ${killedMs} ms after it was launched`);
    await client.close();
  }, 120_000);
});
