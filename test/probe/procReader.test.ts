import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { descendantsOf, parseStatLine, ProcParseError, ProcReader, type ProcStat } from '../../src/probe/procReader.js';

// Fields 3..52 of a real stat line; utime=11 stime=12 cutime=13 cstime=14 threads=3 start=4242 vsize=8192000 rss=300.
const TAIL = 'S 10 20 20 0 -1 4194560 100 0 0 0 11 12 13 14 20 0 3 0 4242 8192000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0';

describe('parseStatLine', () => {
  it('takes the comm up to the LAST ")" so names with ") (" and spaces parse', () => {
    const stat = parseStatLine(`1234 (evil) (name with ) spaces) ${TAIL}\n`);
    expect(stat.comm).toBe('evil) (name with ) spaces');
    expect(stat).toMatchObject({ pid: 1234, state: 'S', ppid: 10, pgid: 20, utimeTicks: 11, stimeTicks: 12, cutimeTicks: 13, cstimeTicks: 14, threads: 3, startTicks: 4242, vsizeBytes: 8192000, rssPages: 300 });
  });

  it('parses an empty comm and a plain one', () => {
    expect(parseStatLine(`7 () ${TAIL}`).comm).toBe('');
    expect(parseStatLine(`7 (sleep) ${TAIL}`).ppid).toBe(10);
  });

  it('rejects malformed lines with a clear error', () => {
    expect(() => parseStatLine('garbage')).toThrow(ProcParseError);
    expect(() => parseStatLine('12 (x) S 1 2')).toThrow(/malformed stat line/);
    expect(() => parseStatLine(`12 (x) ${TAIL.replace('4242', 'abc')}`)).toThrow(/field 22 is not a number/);
  });

  it('parses this very process from the real /proc', () => {
    const stat = new ProcReader().readStat(process.pid)!;
    expect(stat.pid).toBe(process.pid);
    expect(stat.ppid).toBe(process.ppid);
    expect(stat.threads).toBeGreaterThan(0);
    expect(stat.rssPages).toBeGreaterThan(0);
  });
});

describe('descendantsOf', () => {
  const stat = (pid: number, ppid: number): ProcStat => ({ ...parseStatLine(`${pid} (p) ${TAIL}`), ppid });
  it('walks the ppid tree from the seeds and ignores unknown seeds', () => {
    const all = new Map([stat(1, 0), stat(2, 1), stat(3, 2), stat(4, 2), stat(5, 1), stat(6, 99)].map((s) => [s.pid, s]));
    expect([...descendantsOf(all, [2])].sort()).toEqual([2, 3, 4]);
    expect([...descendantsOf(all, [5, 6, 12345])].sort()).toEqual([5, 6]);
  });
});

describe('ProcReader system files', () => {
  const reader = new ProcReader();
  const empty = mkdtempSync(join(tmpdir(), 'probe-noproc-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it('reads memory, load, cpu totals and uptime with plausible values', () => {
    const memory = reader.readMemInfo();
    expect(memory.totalMb).toBeGreaterThan(100);
    expect(memory.availableMb).toBeGreaterThan(0);
    expect(memory.usedMb).toBeCloseTo(memory.totalMb - memory.availableMb, 6);
    expect(reader.readLoadAvg()).toHaveLength(3);
    const cpu = reader.readCpuTotals();
    expect(cpu.cpuCount).toBeGreaterThanOrEqual(1);
    expect(cpu.totalTicks).toBeGreaterThan(cpu.idleTicks);
    expect(reader.readUptimeSeconds()).toBeGreaterThan(0);
  });

  it('counts open fds and reads the command line of this process', () => {
    expect(reader.countOpenFds(process.pid)).toBeGreaterThan(2);
    expect(reader.readCommandLine(process.pid)).toContain('node');
    expect(reader.readCommandLine(process.pid, 5)).toHaveLength(5);
  });

  it('a vanished process is undefined, not an error', () => {
    expect(reader.readStat(2 ** 22 + 1)).toBeUndefined();
    expect(reader.countOpenFds(2 ** 22 + 1)).toBeUndefined();
    expect(reader.readCommandLine(2 ** 22 + 1)).toBeUndefined();
  });

  it('a missing /proc is reported as unavailable and system reads throw', () => {
    const missing = new ProcReader(empty);
    expect(missing.isAvailable()).toBe(false);
    expect(() => missing.readMemInfo()).toThrow(/ENOENT/);
    expect(new ProcReader().isAvailable()).toBe(true);
  });
});
