/**
 * A process that escaped its sheet's group (setsid -f) and outlived a conductor killed with
 * kill -9: the next start finds it by the previous run's marker and stops it with the job it
 * closes as interrupted (before, only the sheet's group was stopped and it ran on).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { escapedSession, killEscaped, liveProcess, readPidFile } from '../helpers/escaped.js';

const homes: string[] = [];
const conductors: RunningConductor[] = [];
afterAll(async () => {
  killEscaped();
  for (const c of conductors) await c.stop();
  for (const h of homes) removeHome(h);
});

/** Live members of process group `pgid`, from /proc. */
function membersOf(pgid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('escaped processes across a conductor crash', () => {
  it('are stopped at the next start, recorded as process.kill escaped_processes', async () => {
    const home = makeHome('mzt-escaped-orphans-');
    homes.push(home);
    const first = await startConductor(home, { config: { kill_grace_seconds: 1 } });
    conductors.push(first);
    const client = await DaemonClient.connect({ socketPath: first.socketPath, reconnect: false });
    const pidFile = path.join(home, 'escaped.pid');
    const { job_id } = await client.call('job.submit', {
      name: 'escaper',
      sheets: [{ argv: ['sh', '-c', `setsid -f sh -c 'echo $$ > ${pidFile}; while :; do sleep 0.2; done'; sleep 600`] }],
    });
    const pid = await escapedSession(await readPidFile(pidFile));
    // The sheet's own group (its members are the group stop's business, never "escaped").
    const sheetPid = (await client.call('job.get', { job_id })).sheets[0]!.pid!;
    const groupMembers = membersOf(sheetPid);
    expect(groupMembers.length).toBeGreaterThan(0);
    await client.close();
    await first.kill9();
    expect(liveProcess(pid)).toBe(true); // nobody stopped it: its conductor died

    const second = await startConductor(home, { config: { kill_grace_seconds: 1 } });
    conductors.push(second);
    await waitFor(() => !liveProcess(pid), 10_000, 'the escaped process stopped');
    const again = await DaemonClient.connect({ socketPath: second.socketPath, reconnect: false });
    expect((await again.call('job.get', { job_id })).status).toBe('interrupted');
    const { events } = await again.call('events.read', { job_id, types: ['process.kill'], limit: 50 });
    const escaped = events.find((e) => e.data.reason === 'escaped_processes');
    expect(escaped?.data).toMatchObject({ signal: 'SIGTERM', pgid: null });
    // The escaped loop (and its `sleep 0.2` children of the moment), never the sheet's own group.
    expect(escaped!.data.pids).toContain(pid);
    for (const member of groupMembers) expect(escaped!.data.pids).not.toContain(member);
    await again.close();
  }, 60_000);
});
