import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStatLine } from '../../src/probe/procReader.js';
import { SystemProbe } from '../../src/probe/systemProbe.js';
import type { ProbeResult, ProbeSample, ProcessMetric, ProcessTag } from '../../src/probe/types.js';
import { killAll, shell, stdoutLine, waitFor } from './processes.js';

afterEach(killAll);

function ok(result: ProbeResult): ProbeSample {
  if (!result.ok) throw new Error(`probe failed: ${result.error}`);
  return result;
}

const ticksOf = (pid: number) => parseStatLine(readFileSync(`/proc/${pid}/stat`, 'utf8'));

describe('SystemProbe on /proc', () => {
  it('finds a tagged tree of real processes with ppids, tags and system figures', async () => {
    const sheet = shell('sleep 30 & sleep 30 & wait');
    const bystander = shell('exec sleep 30');
    const tags = new Map<number, ProcessTag>([[sheet.pid, { job_id: 'job-a', sheet_num: 1 }]]);
    const probe = new SystemProbe();
    expect(probe.source).toBe('proc');

    const sample = await waitFor('both sleeps of the sheet', async () => {
      const s = ok(await probe.sample(process.pid, tags));
      // Both forked AND exec'ed (a fresh fork still shows the shell's command line).
      const execed = s.processes.filter((p) => p.command === 'sleep 30');
      return execed.filter((p) => p.ppid === sheet.pid).length === 2 && execed.some((p) => p.pid === bystander.pid) ? s : undefined;
    });
    const byPid = new Map(sample.processes.map((p) => [p.pid, p]));
    const sleeps = sample.processes.filter((p) => p.ppid === sheet.pid);
    for (const p of [byPid.get(sheet.pid)!, ...sleeps]) expect(p).toMatchObject({ job_id: 'job-a', sheet_num: 1 });
    expect(sleeps.map((p) => p.command)).toEqual(['sleep 30', 'sleep 30']);
    expect(byPid.get(sheet.pid)!.command).toBe('sh -c sleep 30 & sleep 30 & wait');
    expect(byPid.get(bystander.pid)).toMatchObject({ ppid: process.pid, job_id: null, sheet_num: null, command: 'sleep 30' });
    // Right after its exec a sleep can still be running (R) for a moment; it is never a zombie.
    expect(['S', 'R', 'D']).toContain(byPid.get(bystander.pid)!.state);
    expect(byPid.get(process.pid)).toMatchObject({ ppid: process.ppid, job_id: null });

    const sleep = sleeps[0]!;
    expect(sleep.rss_mb).toBeGreaterThan(0);
    expect(sleep.vms_mb).toBeGreaterThan(sleep.rss_mb);
    expect(sleep.threads).toBe(1);
    expect(sleep.open_fds).toBeGreaterThanOrEqual(0);
    expect(sleep.age_seconds).toBeGreaterThanOrEqual(0);
    expect(sleep.age_seconds).toBeLessThan(10);

    expect(sample.system_memory_total_mb).toBeGreaterThan(sample.system_memory_available_mb);
    expect(sample.system_memory_used_mb).toBeCloseTo(sample.system_memory_total_mb - sample.system_memory_available_mb);
    expect(sample.cpu_count).toBeGreaterThanOrEqual(1);
    expect(sample.root.pid).toBe(process.pid);
    expect(sample.root.rss_mb).toBeGreaterThan(10);
    expect(sample.blocking_ms).toBeGreaterThan(0);
    expect(sample.sample_duration_ms).toBeGreaterThanOrEqual(sample.blocking_ms!);
    expect(sample.gpus).toEqual([]);
  });

  it('spreads a sample over event-loop turns with sliceMs, same result, stretches measured', async () => {
    const sheet = shell('sleep 30 & sleep 30 & wait');
    const tags = new Map<number, ProcessTag>([[sheet.pid, { job_id: 'job-s', sheet_num: 1 }]]);
    const sliced = new SystemProbe({ sliceMs: 0.05 });
    const whole = new SystemProbe();
    await waitFor('the sheet and its sleeps', async () => {
      const s = ok(await sliced.sample(process.pid, tags));
      return s.processes.filter((p) => p.job_id === 'job-s').length === 3 ? s : undefined;
    });
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    const [a, b] = await Promise.all([sliced.sample(process.pid, tags), sliced.sample(process.pid, tags)]); // never overlapping
    clearInterval(ticking);
    const s = ok(a);
    ok(b);
    expect(turns).toBeGreaterThan(0); // timers ran while it sampled
    expect(s.busy_ms).toBeGreaterThanOrEqual(s.blocking_ms!);
    expect(s.sample_duration_ms).toBeGreaterThanOrEqual(s.busy_ms!);
    const w = ok(await whole.sample(process.pid, tags));
    expect(w.busy_ms).toBe(w.blocking_ms);
    const mine = (x: ProbeSample) => x.processes.filter((p) => p.job_id === 'job-s').map((p) => [p.pid, p.command]).sort();
    expect(mine(s)).toEqual(mine(w));
  });

  it('keeps members of a tagged process group that were reparented away from the root', async () => {
    const sheet = shell('sleep 30 & exit 0');
    if (sheet.exitCode === null) await once(sheet, 'exit'); // its sleep lives on, reparented
    const tags = new Map<number, ProcessTag>([[sheet.pid, { job_id: 'job-o', sheet_num: 2 }]]);
    // The forked child may not have exec'ed `sleep` yet: sample until it has (bounded).
    const probe = new SystemProbe();
    let orphans: ProcessMetric[] = [];
    for (let i = 0; i < 100; i++) {
      orphans = ok(await probe.sample(process.pid, tags)).processes.filter((p) => p.job_id === 'job-o');
      if (orphans.length === 1 && orphans[0]!.command === 'sleep 30') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(orphans).toHaveLength(1);
    expect(orphans[0]).toMatchObject({ command: 'sleep 30', sheet_num: 2 });
    expect(orphans[0]!.ppid).not.toBe(sheet.pid);
  });

  it('a busy loop shows > 50% of a core on the second sample, null on the first', async () => {
    const busy = shell('while :; do :; done');
    const probe = new SystemProbe();
    const first = ok(await probe.sample(process.pid));
    expect(first.processes.find((p) => p.pid === busy.pid)!.cpu_percent).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the measurement interval itself
    const second = ok(await probe.sample(process.pid));
    expect(second.processes.find((p) => p.pid === busy.pid)!.cpu_percent).toBeGreaterThan(50);
    expect(second.system_cpu_percent).toBeGreaterThan(0);
  });

  it("a child that burns CPU and exits between two samples is still in its tag's cpu seconds", async () => {
    // The sheet waits for a line on stdin, then runs a CPU-burning child, then says "done".
    const sheet = shell('read go; sh -c "i=0; while [ \\$i -lt 300000 ]; do i=\\$((i+1)); done"; echo done; exec sleep 30', { stdin: true });
    const tag = { job_id: 'job-burn', sheet_num: 3 };
    const tags = new Map<number, ProcessTag>([[sheet.pid, tag]]);
    const probe = new SystemProbe();
    await waitFor('the sheet to be waiting on stdin', () => (ticksOf(sheet.pid).state === 'S' ? true : undefined));
    ok(await probe.sample(process.pid, tags));
    const before = ticksOf(sheet.pid);
    const creditedBefore = probe.cpuSecondsByTag().find((t) => t.job_id === 'job-burn')!.cpu_seconds;

    const done = stdoutLine(sheet, 'done');
    sheet.stdin!.write('go\n');
    await done; // the burner was reaped by the sheet, never sampled alive
    const after = ticksOf(sheet.pid);
    const reapedSeconds = (after.cutimeTicks + after.cstimeTicks - before.cutimeTicks - before.cstimeTicks) / 100;
    expect(reapedSeconds).toBeGreaterThan(0.05);

    const sample = ok(await probe.sample(process.pid, tags));
    const account = sample.tag_cpu.find((t) => t.job_id === 'job-burn')!;
    expect(account.sheet_num).toBe(3);
    expect(account.cpu_seconds - creditedBefore).toBeGreaterThanOrEqual(reapedSeconds);
    expect(account.exited_cpu_seconds).toBeGreaterThanOrEqual(reapedSeconds);
  });

  it('counts a zombie descendant and leaves it out of the process list', async () => {
    // The inner sleep exits first; its parent (the exec'ed sleep 30) never reaps it.
    const parent = shell('sleep 0.1 & exec sleep 30');
    const probe = new SystemProbe();
    const sample = await waitFor('a zombie', async () => {
      const s = ok(await probe.sample(process.pid));
      return s.zombie_count > 0 ? s : undefined;
    });
    expect(sample.zombie_count).toBe(sample.zombie_pids.length);
    const zombie = sample.zombie_pids.find((pid) => ticksOf(pid).ppid === parent.pid);
    expect(zombie).toBeDefined();
    expect(sample.processes.some((p) => p.pid === zombie)).toBe(false);
    expect(sample.processes.some((p) => p.pid === parent.pid)).toBe(true);
  });

  it('spreads fd counts: at most fdRefreshPerSample processes are counted per sample', async () => {
    for (let i = 0; i < 3; i++) shell('exec sleep 30');
    const probe = new SystemProbe({ fdRefreshPerSample: 1 });
    const mine = (s: ProbeSample) => s.processes.filter((p) => p.command === 'sleep 30');
    await waitFor('three sleeps', async () => (mine(ok(await probe.sample(process.pid))).length === 3 ? true : undefined));
    const fresh = new SystemProbe({ fdRefreshPerSample: 1 });
    const first = ok(await fresh.sample(process.pid));
    expect(first.processes.filter((p) => p.open_fds !== null)).toHaveLength(1);
    let sample = first;
    for (let i = 0; i < first.processes.length; i++) sample = ok(await fresh.sample(process.pid));
    expect(mine(sample).every((p) => p.open_fds !== null)).toBe(true);
  });
});

describe('SystemProbe failures are unknown, not zeros', () => {
  it('a missing /proc gives ok:false with the reason and no figures', async () => {
    const result = await new SystemProbe({ source: 'proc', procRoot: '/nonexistent-proc' }).sample(process.pid);
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ source: 'proc', error: expect.stringMatching(/ENOENT/) });
    expect(result).not.toHaveProperty('processes');
    expect(result).not.toHaveProperty('system_memory_total_mb');
  });

  it('a root pid that does not exist gives ok:false naming it', async () => {
    const result = await new SystemProbe().sample(2 ** 22 + 7);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/root process 4194311 not found/) });
  });

  it('auto-detects the systeminformation fallback when /proc is absent', () => {
    expect(new SystemProbe({ procRoot: '/nonexistent-proc' }).source).toBe('systeminformation');
  });
});

describe('SystemProbe systeminformation fallback', () => {
  it('returns the same shape, with what it cannot know as null', async () => {
    const child = shell('exec sleep 30');
    const tags = new Map<number, ProcessTag>([[child.pid, { job_id: 'job-si', sheet_num: null }]]);
    const probe = new SystemProbe({ source: 'systeminformation' });
    const sample = ok(await probe.sample(process.pid, tags));
    expect(sample.source).toBe('systeminformation');
    const sleep = sample.processes.find((p) => p.pid === child.pid)!;
    expect(sleep).toMatchObject({ ppid: process.pid, job_id: 'job-si', sheet_num: null, threads: null, open_fds: null, state: 'S' });
    expect(sleep.command).toContain('sleep');
    expect(sample.system_memory_total_mb).toBeGreaterThan(0);
    expect(sample.tag_cpu).toEqual([]);
    expect(sample.blocking_ms).toBeNull();
  });
});
