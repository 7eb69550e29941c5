/**
 * Which processes count as a sheet's orphans (pure rule over /proc stat records): members of
 * its group that started at or after it; nothing when pid P is alive but is another process
 * (reused), or when the sheet ran in an earlier boot; zombies are left out.
 */
import { describe, expect, it } from 'vitest';
import { orphansOf } from '../../src/conductor/orphans.js';
import type { ProcStat } from '../../src/probe/procReader.js';

const BOOT = 1_700_000_000;
const HZ = 100;

function proc(pid: number, pgid: number, startedAt: number, state = 'S'): ProcStat {
  return {
    pid, comm: 'sleep', state, ppid: 1, pgid,
    utimeTicks: 0, stimeTicks: 0, cutimeTicks: 0, cstimeTicks: 0, threads: 1,
    startTicks: Math.round((startedAt - BOOT) * HZ), vsizeBytes: 0, rssPages: 0,
  };
}
const table = (...procs: ProcStat[]) => new Map(procs.map((p) => [p.pid, p]));
const sheet = { pgid: 500, started_at: BOOT + 1000 };

describe('orphansOf', () => {
  it('takes the live leader and members that started with or after the sheet', () => {
    const procs = table(proc(500, 500, BOOT + 1000.2), proc(501, 500, BOOT + 1200), proc(900, 900, BOOT + 10));
    expect(orphansOf(sheet, procs, BOOT, HZ).sort()).toEqual([500, 501]);
  });

  it('takes members whose leader is gone (or a zombie), leaves out zombies and processes older than the sheet', () => {
    expect(orphansOf(sheet, table(proc(501, 500, BOOT + 1200), proc(502, 500, BOOT + 1300, 'Z')), BOOT, HZ)).toEqual([501]);
    expect(orphansOf(sheet, table(proc(500, 500, BOOT + 1000, 'Z'), proc(501, 500, BOOT + 1200)), BOOT, HZ)).toEqual([501]);
    expect(orphansOf(sheet, table(proc(503, 500, BOOT + 900)), BOOT, HZ)).toEqual([]);
  });

  it('takes nothing when pid P is alive but started at another time (reused), or the sheet ran before this boot', () => {
    expect(orphansOf(sheet, table(proc(500, 500, BOOT + 5000), proc(501, 500, BOOT + 5001)), BOOT, HZ)).toEqual([]);
    const earlier = { pgid: 500, started_at: BOOT - 3600 };
    expect(orphansOf(earlier, table(proc(501, 500, BOOT + 20)), BOOT, HZ)).toEqual([]);
  });
});
