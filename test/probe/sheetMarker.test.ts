/**
 * Sheet markers (MZT_SHEET_ID) and what the probe does with them: a process that escaped the
 * tree and its session is tagged by the marker in its environment (read once per pid + start
 * time), and a tagged process keeps its tag when it leaves the tree.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProcReader } from '../../src/probe/procReader.js';
import { markerIn, markerValue, newMarkerInstance, parseMarker, SHEET_MARKER_VAR } from '../../src/probe/sheetMarker.js';
import { SystemProbe } from '../../src/probe/systemProbe.js';
import type { ProbeResult, ProbeSample, ProcessTag } from '../../src/probe/types.js';
import { findEscaped, signalIdentities } from '../../src/actors/escapedProcesses.js';
import { findMarked } from '../../src/conductor/escapedOrphans.js';
import { killAll, shell, waitFor } from './processes.js';

const escapedPids: number[] = [];
afterEach(async () => {
  for (const pid of escapedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await killAll();
  vi.restoreAllMocks();
});

function ok(result: ProbeResult): ProbeSample {
  if (!result.ok) throw new Error(`probe failed: ${result.error}`);
  return result;
}

/** Starts `setsid -f sleep 60` with `env` and returns its pid (it writes it to stdout first). */
async function escapedSleep(env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn('setsid', ['-f', 'sh', '-c', 'echo $$; exec sleep 60'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('error', reject);
  });
  escapedPids.push(pid);
  // Reparented to init, in its own session: outside any tree rooted here.
  await waitFor('the exec of sleep', () => (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep') ? true : undefined));
  return pid;
}

describe('sheet markers', () => {
  it('names a job and sheet of one conductor instance only', () => {
    const instance = newMarkerInstance();
    expect(instance).not.toBe(newMarkerInstance());
    const value = markerValue(instance, 'build-1#x', 3);
    expect(parseMarker(instance, value)).toEqual({ job_id: 'build-1#x', sheet_num: 3 });
    expect(parseMarker(newMarkerInstance(), value)).toBeUndefined();
    expect(parseMarker(instance, `${instance}:job#0`)).toBeUndefined();
    expect(parseMarker(instance, `${instance}:#1`)).toBeUndefined();
  });

  it('is found in an environment block as a whole variable only', () => {
    const block = (...vars: string[]) => Buffer.from(vars.map((v) => `${v}\0`).join(''));
    expect(markerIn(block('A=1', `${SHEET_MARKER_VAR}=abc:j#1`, 'B=2'))).toBe('abc:j#1');
    expect(markerIn(block(`${SHEET_MARKER_VAR}=first`))).toBe('first');
    expect(markerIn(block(`X=${SHEET_MARKER_VAR}=fake`))).toBeUndefined();
    expect(markerIn(block(`X=${SHEET_MARKER_VAR}=fake`, `${SHEET_MARKER_VAR}=real`))).toBe('real');
    expect(markerIn(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('SystemProbe and escaped processes', () => {
  it('tags a process outside the tree by its marker, reading its environment once', async () => {
    const instance = newMarkerInstance();
    const tag: ProcessTag = { job_id: 'job-m', sheet_num: 2 };
    const pid = await escapedSleep({ ...process.env, [SHEET_MARKER_VAR]: markerValue(instance, tag.job_id, 2) });
    const other = await escapedSleep({ ...process.env, [SHEET_MARKER_VAR]: markerValue(newMarkerInstance(), 'job-m', 2) });
    const reads = vi.spyOn(ProcReader.prototype, 'readEnviron');
    const probe = new SystemProbe({ markerTag: (value) => parseMarker(instance, value) });
    const first = ok(await probe.sample(process.pid));
    expect(first.processes.find((p) => p.pid === pid)).toMatchObject({ job_id: 'job-m', sheet_num: 2, ppid: 1 });
    expect(first.processes.find((p) => p.pid === other)).toBeUndefined(); // another conductor's
    await probe.sample(process.pid);
    expect(reads.mock.calls.filter(([p]) => p === pid)).toHaveLength(1);
    expect(reads.mock.calls.filter(([p]) => p === other)).toHaveLength(1);
    expect(probe.knownProcesses(tag).map((p) => p.pid)).toContain(pid);
    // Gone: forgotten.
    process.kill(pid, 'SIGKILL');
    await waitFor('the sleep to die', () => (/\) [ZX] /.test(safeStat(pid)) ? true : undefined));
    const after = ok(await probe.sample(process.pid));
    expect(after.processes.find((p) => p.pid === pid)).toBeUndefined();
    expect(probe.knownProcesses(tag).map((p) => p.pid)).not.toContain(pid);
  });

  it('without markerTag reads no environment; a process tagged in the tree keeps its tag after it leaves', async () => {
    const reads = vi.spyOn(ProcReader.prototype, 'readEnviron');
    // The subshell is in the sheet's tree, then (after its parent exits) reparented to init.
    const sheet = shell('(sleep 60) & echo $!; sleep 0.5');
    const child = await new Promise<number>((resolve) => sheet.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
    escapedPids.push(child);
    const tags = new Map<number, ProcessTag>([[sheet.pid, { job_id: 'job-t', sheet_num: 1 }]]);
    const probe = new SystemProbe();
    const seen = ok(await probe.sample(process.pid, tags));
    expect(seen.processes.find((p) => p.pid === child)).toMatchObject({ job_id: 'job-t', ppid: sheet.pid });
    await waitFor('the sheet to exit', () => (sheet.exitCode !== null ? true : undefined));
    // The sheet's tag is gone (as when its sheet ended) and its pgid is the sheet's no more.
    const later = ok(await probe.sample(process.pid, new Map()));
    expect(later.processes.find((p) => p.pid === child)).toMatchObject({ job_id: 'job-t', sheet_num: 1 });
    expect(reads).not.toHaveBeenCalled();
  });

  it('finds and stops the processes of a marker outside a group, checking start times', async () => {
    const marker = markerValue(newMarkerInstance(), 'job-k', 1);
    const pid = await escapedSleep({ ...process.env, [SHEET_MARKER_VAR]: marker });
    const found = await findEscaped({ marker, pgid: process.pid });
    expect(found.map((id) => id.pid)).toEqual([pid]);
    // A stale identity (another start time) is never signalled.
    expect(signalIdentities([{ pid, startTicks: found[0]!.startTicks + 1 }], 'SIGTERM')).toEqual([]);
    expect(signalIdentities(found, 'SIGTERM')).toEqual([pid]);
    await waitFor('the sleep to die', () => (/\) [ZX] /.test(safeStat(pid)) ? true : undefined));
    expect(await findEscaped({ marker, pgid: process.pid })).toEqual([]);
  });

  it("finds a previous run's marked process at start-up only if its marker is still there after its start time was read", async () => {
    const instance = newMarkerInstance();
    const pid = await escapedSleep({ ...process.env, [SHEET_MARKER_VAR]: markerValue(instance, 'job-r', 2) });
    const startTicks = new ProcReader().readStat(pid)!.startTicks;
    expect(findMarked(instance, new Set(['job-r']), new Set())).toEqual([{ pid, startTicks, job_id: 'job-r', sheet_num: 2 }]);
    // What a pid reused between the reads looks like: the second read shows another environment.
    class ReusedAfterFirstRead extends ProcReader {
      private reads = 0;
      override readEnviron(p: number): Buffer | undefined {
        if (p === pid && ++this.reads > 1) return Buffer.from(`${SHEET_MARKER_VAR}=someone-else\0`);
        return super.readEnviron(p);
      }
    }
    expect(findMarked(instance, new Set(['job-r']), new Set(), new ReusedAfterFirstRead())).toEqual([]);
  });
});

function safeStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return `${pid} (gone) X `;
  }
}
