/**
 * 300 escaped children: a sheet starts 300 `setsid -f sleep` (each reparented to init at once,
 * in its own session). The monitor tags every one of them to the job (by the sheet's environment
 * marker), and cancel stops them all — promptly, and recorded as process.kill escaped_processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DurableEvent } from '../../src/events/types.js';
import type { SystemSnapshot } from '../../src/monitor/snapshot.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { killEscaped, liveProcess, track } from '../helpers/escaped.js';

const ESCAPED = 300;
// max_processes: the escaped processes count as the job's (a low limit, like the old default of 50, would shed the job).
const fixture = useConductor({ client: { reconnect: false }, config: { kill_grace_seconds: 2, max_processes: 5000 } });

let pidFile: string | undefined;
afterAll(async () => {
  // Whatever a failed run left behind (each escaped process wrote its pid).
  if (pidFile && fs.existsSync(pidFile)) for (const pid of fs.readFileSync(pidFile, 'utf8').split('\n').filter(Boolean)) track(Number(pid));
  killEscaped();
});

describe('escaped processes at scale', () => {
  it(`${ESCAPED} setsid -f children are tagged to the job in a snapshot and all gone after cancel`, async () => {
    pidFile = path.join(fixture.home, 'escaped.pids');
    const escape = `setsid -f sh -c 'echo $$ >> ${pidFile}; exec sleep 1000'`;
    const script = `i=0; while [ $i -lt ${ESCAPED} ]; do ${escape}; i=$((i+1)); done; exec sleep 999`;
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: ['sh', '-c', script] }] });
    const escaped = await waitFor(
      async () => {
        const snapshot = (await fixture.client.call('monitor.snapshot', {}).catch(() => undefined)) as unknown as SystemSnapshot | undefined;
        if (!snapshot) return undefined; // none taken yet
        const mine = snapshot.processes.filter((p) => p.job_id === job_id && p.command === 'sleep 1000');
        return mine.length >= ESCAPED ? mine : undefined;
      },
      120_000,
      `${ESCAPED} escaped sleeps tagged to the job`,
    );
    expect(escaped).toHaveLength(ESCAPED);
    const main = (await fixture.client.call('job.get', { job_id })).sheets?.[0]?.pid;
    expect(main).toBeGreaterThan(1);
    for (const p of escaped) {
      track(p.pid);
      expect(p.ppid).not.toBe(main); // escaped: not the sheet's children
      expect(p.sheet_num).toBe(1);
    }

    const started = Date.now();
    await fixture.client.call('job.cancel', { job_id }, { timeoutMs: 60_000 });
    const cancelMs = Date.now() - started;
    console.log(`cancel with ${ESCAPED} escaped processes answered in ${cancelMs} ms`);
    expect(cancelMs).toBeLessThan(30_000);
    await waitFor(() => escaped.every((p) => !liveProcess(p.pid)), 30_000, `all ${ESCAPED} escaped sleeps to be gone`);

    const { events } = await fixture.client.call('events.read', { since: 0, job_id, types: ['process.kill'], limit: 1000 });
    const rounds = (events as DurableEvent[]).filter((e) => e.data.reason === 'escaped_processes' && e.data.signal === 'SIGTERM');
    const signalled = new Set(rounds.flatMap((e) => e.data.pids as number[]));
    for (const p of escaped) expect(signalled.has(p.pid)).toBe(true);
  });
});
