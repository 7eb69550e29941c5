/**
 * live_restore under repeated crashes: one sheet writes 100 000 numbered lines (stdout, every
 * 500th also on stderr) as fast as the pipe takes them, over several seconds, while the
 * conductor is killed with SIGKILL at random points, 6 times. Each crash can land between a log
 * write and its cursor write (spool.ts); the log must still hold every line exactly once, in
 * order, and the job complete with its exit code.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { makeHome, pidAlive, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';

const home = makeHome('mzt-live-crash-');
let conductor: RunningConductor | undefined;
let sheetPid: number | undefined;
afterAll(async () => {
  await conductor?.stop();
  if (sheetPid !== undefined && pidAlive(sheetPid)) process.kill(-sheetPid, 'SIGKILL');
  removeHome(home);
});

const LINES = 100_000;
const SHEET = [
  'python3',
  '-c',
  [
    'import sys, time',
    `for i in range(1, ${LINES + 1}):`,
    "    sys.stdout.write(f'n{i}\\n')",
    "    if i % 500 == 0: sys.stdout.flush(); print(f'e{i}', file=sys.stderr, flush=True); time.sleep(0.08)",
  ].join('\n'),
];

async function readAll(c: DaemonClient, job_id: string): Promise<string[]> {
  const lines: string[] = [];
  for (let offset = 0; ; ) {
    const part = await c.call('job.logs', { job_id, offset, max_bytes: 1048576 });
    lines.push(...(part.lines as string[]));
    if (part.next_offset >= part.size || part.next_offset === offset) return lines;
    offset = part.next_offset;
  }
}

describe('live_restore crash', () => {
  it('keeps every line exactly once across 6 kill -9 of the conductor', async () => {
    const config = { live_restore: true, kill_grace_seconds: 2 };
    conductor = await startConductor(home, { config });
    let client = await DaemonClient.connect({ socketPath: conductor.socketPath });
    const { job_id } = await client.call('job.submit', { name: 'crashy', sheets: [{ argv: SHEET }] });
    sheetPid = await waitFor(async () => (await client.call('job.get', { job_id })).sheets[0]?.pid, 15_000, 'sheet pid');
    let seed = 13;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let crashes = 0;
    for (; crashes < 6 && pidAlive(sheetPid); crashes++) {
      await new Promise((r) => setTimeout(r, 200 + rand() * 900));
      await client.close();
      await conductor.kill9();
      conductor = await startConductor(home, { config });
      client = await DaemonClient.connect({ socketPath: conductor.socketPath });
    }
    expect(crashes).toBe(6); // the sheet outlived them all: every crash hit a running sheet
    const end = await waitFor(async () => {
      const job = await client.call('job.get', { job_id });
      return ['completed', 'failed', 'cancelled', 'interrupted'].includes(job.status) ? job : undefined;
    }, 60_000, 'the job to end');
    expect(end.status).toBe('completed');
    expect(end.sheets[0].exit_code).toBe(0);

    const lines = await readAll(client, job_id);
    const out = lines.filter((l) => / 1 out n\d+$/.test(l)).map((l) => Number(/n(\d+)$/.exec(l)![1]));
    expect(out.length).toBe(LINES);
    for (let i = 0; i < LINES; i++) if (out[i] !== i + 1) throw new Error(`line ${i}: expected n${i + 1}, got n${out[i]}`);
    const err = lines.filter((l) => / 1 err e\d+$/.test(l)).map((l) => Number(/e(\d+)$/.exec(l)![1]));
    expect(err).toEqual(Array.from({ length: LINES / 500 }, (_, i) => (i + 1) * 500));
    expect(lines.filter((l) => / 1 sys sheet 1 re-adopted /.test(l)).length).toBe(6);
    await client.close();
  }, 180_000);
});
