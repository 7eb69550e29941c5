import { describe, expect, it } from 'vitest';
import { CpuTracker, type CpuObservation } from '../../src/probe/cpuTracker.js';

// 100 ticks = 1 s of CPU. Samples are 1000 ms apart unless said otherwise.
// tag null = untagged (undefined would pick the default).
const obs = (pid: number, ppid: number, own: number, child = 0, tag: string | null = 'job', startTicks = 1): CpuObservation => ({ pid, ppid, startTicks, ownTicks: own, childTicks: child, tag: tag ?? undefined });
const seconds = (tracker: CpuTracker, tag = 'job') => tracker.cpuSecondsByTag().get(tag);

describe('CpuTracker cpu_percent', () => {
  it('is null on first sight, then the own tick delta over wall time (100 = one core)', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    expect(tracker.observe([obs(10, 1, 500)], 0).get(10)).toBeNull();
    expect(tracker.observe([obs(10, 1, 650)], 1000).get(10)).toBeCloseTo(150);
    expect(tracker.observe([obs(10, 1, 650)], 3000).get(10)).toBe(0);
  });

  it('a reused pid (new start time) is a new process: null, not a jump or a negative', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 500, 0, 'job', 1)], 0);
    expect(tracker.observe([obs(10, 1, 3, 0, 'job', 999)], 1000).get(10)).toBeNull();
  });

  it('rejects a nonsensical tick rate', () => {
    expect(() => new CpuTracker({ ticksPerSecond: 0 })).toThrow(/ticksPerSecond/);
  });
});

describe('CpuTracker per-tag seconds', () => {
  it('credits a new process with its whole life, then deltas', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 200, 50)], 0);
    expect(seconds(tracker)).toEqual({ cpuSeconds: 2.5, exitedCpuSeconds: 0 });
    tracker.observe([obs(10, 1, 300, 50)], 1000);
    expect(seconds(tracker)).toEqual({ cpuSeconds: 3.5, exitedCpuSeconds: 0 });
  });

  it('a child that lived and died between samples is caught by the parent cutime growth', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 100)], 0);
    tracker.observe([obs(10, 1, 110, 70)], 1000); // an unseen child used 0.7 s and was reaped
    expect(seconds(tracker)).toEqual({ cpuSeconds: 1.8, exitedCpuSeconds: 0.7 });
  });

  it('a tracked child reaped by its parent is counted once: last seen + its final moments', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 100), obs(11, 10, 40)], 0);
    tracker.observe([obs(10, 1, 100), obs(11, 10, 90)], 1000);
    expect(seconds(tracker)!.cpuSeconds).toBeCloseTo(1.9);
    // 11 used 30 more ticks (final 120) and was reaped: 10's cutime grows by exactly 120.
    tracker.observe([obs(10, 1, 100, 120)], 2000);
    expect(seconds(tracker)!.cpuSeconds).toBeCloseTo(2.2);
    expect(seconds(tracker)!.exitedCpuSeconds).toBeCloseTo(1.2);
  });

  it('a vanished subtree (sh and its tracked child) is reconciled against the surviving ancestor', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    // root 1 (untagged) -> sh 10 (job) -> tool 11 (job)
    tracker.observe([obs(1, 0, 0, 0, null), obs(10, 1, 20), obs(11, 10, 50)], 0);
    // both exit: 11 final 60 reaped by 10 (10's cutime 60), 10 final own 25 reaped by root: root cutime += 85
    tracker.observe([obs(1, 0, 0, 85, null)], 1000);
    expect(seconds(tracker)!.cpuSeconds).toBeCloseTo(0.85);
    expect(seconds(tracker)!.exitedCpuSeconds).toBeCloseTo(0.85);
  });

  it('an untagged parent reaping untracked children keeps them untagged; mixed tags go to the parent', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(1, 0, 0, 0, null), obs(10, 1, 10, 0, 'a'), obs(20, 1, 10, 0, 'b')], 0);
    tracker.observe([obs(1, 0, 0, 40, null)], 1000); // 10 and 20 both reaped, 20 extra ticks between them
    expect(seconds(tracker, 'a')!.cpuSeconds).toBeCloseTo(0.1);
    expect(seconds(tracker, 'b')!.cpuSeconds).toBeCloseTo(0.1);
    expect(tracker.cpuSecondsByTag().size).toBe(2);
  });

  it('a reparented (not reaped) process costs nothing extra: negative rest is zero', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 10), obs(11, 10, 50)], 0);
    tracker.observe([obs(10, 1, 10, 5)], 1000); // 11 vanished from the tree but 10 only reaped 5 ticks of something else
    expect(seconds(tracker)!.cpuSeconds).toBeCloseTo(0.6);
  });

  it('a process whose tag changes takes its credit along', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100 });
    tracker.observe([obs(10, 1, 100, 0, null)], 0);
    tracker.observe([obs(10, 1, 150, 0, 'late')], 1000);
    expect(seconds(tracker, 'late')!.cpuSeconds).toBeCloseTo(1.5);
  });

  it('keeps at most maxTags accounts, forgetting idle ones first; forgetTag drops one', () => {
    const tracker = new CpuTracker({ ticksPerSecond: 100, maxTags: 2 });
    tracker.observe([obs(10, 1, 1, 0, 'old')], 0);
    tracker.observe([obs(11, 1, 1, 0, 'mid')], 1000);
    tracker.observe([obs(11, 1, 1, 0, 'mid'), obs(12, 1, 1, 0, 'new')], 2000);
    expect([...tracker.cpuSecondsByTag().keys()].sort()).toEqual(['mid', 'new']);
    tracker.forgetTag('mid');
    expect([...tracker.cpuSecondsByTag().keys()]).toEqual(['new']);
  });
});
