/**
 * escapedPauser against real processes carrying a sheet marker outside the sheet's group: the
 * pause stops them, resume continues exactly those, a scan that ends after a resume stops
 * nothing, and a set restored from disk (a live_restore sheet after a restart) is continued.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { escapedPauser, type EscapedQuery } from '../../src/actors/escapedProcesses.js';
import type { ProcIdentity } from '../../src/probe/sheetMarker.js';
import { waitFor } from '../helpers/conductorProcess.js';
import { processState } from '../helpers/escaped.js';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A sleeping process in its own group that carries `marker`. */
async function markedSleeper(marker: string): Promise<number> {
  const child = spawn('sleep', ['1000'], { env: { ...process.env, MZT_SHEET_ID: marker }, detached: true, stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  await waitFor(() => processState(pid) === 'S', 5_000, 'the sleeper to run');
  return pid;
}

// The sheet's group is another one than the sleeper's: to the query, the sleeper escaped it.
const queryFor = (marker: string): EscapedQuery => ({ marker, pgid: process.pid });
const freshMarker = () => `test-${process.pid}-${Math.random().toString(36).slice(2)}:job#1`;

describe('escapedPauser', () => {
  it('stops the escaped processes and continues exactly those on resume', async () => {
    const marker = freshMarker();
    const pid = await markedSleeper(marker);
    const heard: ProcIdentity[][] = [];
    const pauser = escapedPauser((ids) => heard.push([...ids]));

    await pauser.pause(queryFor(marker));
    await waitFor(() => processState(pid) === 'T', 5_000, 'the sleeper stopped');
    expect(heard.map((ids) => ids.map((id) => id.pid))).toEqual([[pid]]);

    pauser.resume();
    await waitFor(() => processState(pid) === 'S', 5_000, 'the sleeper continued');
  });

  it('a scan that ends after a resume stops nothing', async () => {
    const marker = freshMarker();
    const pid = await markedSleeper(marker);
    const pauser = escapedPauser();

    const scan = pauser.pause(queryFor(marker));
    pauser.resume(); // before the scan's first step ran
    await scan;
    // A SIGSTOP takes a moment to show in /proc: look again after one.
    await new Promise((r) => setTimeout(r, 200));
    expect(processState(pid)).toBe('S');
  });

  it('continues a stopped set restored from disk', async () => {
    const marker = freshMarker();
    const pid = await markedSleeper(marker);
    const first = escapedPauser((ids) => restored.push(...ids));
    const restored: ProcIdentity[] = [];
    await first.pause(queryFor(marker));
    await waitFor(() => processState(pid) === 'T', 5_000, 'the sleeper stopped');

    // What an adopting conductor does: a new pauser, given what the state file kept.
    const second = escapedPauser();
    second.restore(restored);
    second.resume();
    await waitFor(() => processState(pid) === 'S', 5_000, 'the sleeper continued');
  });
});
