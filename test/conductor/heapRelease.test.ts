/**
 * The idle heap release: after a burst has grown V8's heap, a quiet conductor runs one full
 * collection and the heap shrinks; a busy one is left alone. Real V8 collections in this process.
 */
import v8 from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { startHeapRelease } from '../../src/conductor/heapRelease.js';

/**
 * Grow the heap with ~100 MB of objects, as a burst of events would, and keep one in 50 alive:
 * scattered over the heap's pages, so only a compacting collection can give those pages back.
 */
function burst(): unknown[] {
  const survivors: unknown[] = [];
  let all: unknown[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const event = { seq: i, type: 'debug.burst', data: { pad: `x${i}`.repeat(4) } };
    all.push(event);
    if (i % 50 === 0) survivors.push(event);
  }
  all = [];
  return survivors;
}

describe('heap release', () => {
  it('shrinks the heap when quiet after a burst, a few tries at most, again only after new activity', async () => {
    const logs: string[] = [];
    let activityBytes = 0;
    let survivors = burst();
    const grown = v8.getHeapStatistics().total_heap_size;
    const release = startHeapRelease({ activity: () => activityBytes, log: (m) => logs.push(m), intervalMs: 50, minSlackMb: 8, minGapMs: 0 });
    activityBytes += 1_000_000; // the burst's events, seen at the first check
    try {
      await vi.waitFor(() => expect(release.releases).toBeGreaterThanOrEqual(1), { timeout: 5000 });
      const after = v8.getHeapStatistics();
      // ~100 MB grown, ~2 MB alive: compaction gives back most of it (a plain collection
      // keeps every page holding a survivor).
      expect(after.total_heap_size).toBeLessThan(grown / 2);
      expect(survivors).toHaveLength(20_000);
      expect(logs[0]).toMatch(/^idle after activity: heap \d+ MB → \d+ MB .*one compacting collection/);
      // Bounded per burst: quiet ticks after the last try do not collect again.
      await new Promise((r) => setTimeout(r, 400));
      const tries = release.releases;
      expect(tries).toBeLessThanOrEqual(3);
      await new Promise((r) => setTimeout(r, 300));
      expect(release.releases).toBe(tries);
      // A new burst (activity) arms it again.
      activityBytes += 1_000_000;
      survivors = burst();
      await vi.waitFor(() => expect(release.releases).toBeGreaterThan(tries), { timeout: 5000 });
    } finally {
      release.stop();
    }
  });

  it('counts a trickle (a client polling once a second) as quiet', async () => {
    let activityBytes = 0;
    let checks = 0;
    const survivors = burst();
    // The first check sees the burst's events, every later one a trickle.
    const activity = () => (activityBytes += ++checks === 2 ? 1_000_000 : 2_000);
    const release = startHeapRelease({ activity, log: () => {}, intervalMs: 50, minSlackMb: 8, minGapMs: 0 });
    try {
      await vi.waitFor(() => expect(release.releases).toBeGreaterThanOrEqual(1), { timeout: 5000 });
      expect(survivors.length).toBeGreaterThan(0);
    } finally {
      release.stop();
    }
  });

  it('does not collect after start-up alone, however much the heap holds', async () => {
    const survivors = burst();
    const release = startHeapRelease({ activity: () => 0, log: () => {}, intervalMs: 50, minSlackMb: 1, minGapMs: 0 });
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(release.releases).toBe(0);
      expect(survivors.length).toBeGreaterThan(0);
    } finally {
      release.stop();
    }
  });

  it('leaves a busy conductor alone', async () => {
    let activityBytes = 0;
    burst();
    const release = startHeapRelease({ activity: () => (activityBytes += 100_000), log: () => {}, intervalMs: 50, minSlackMb: 1, minGapMs: 0 });
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(release.releases).toBe(0);
    } finally {
      release.stop();
    }
  });
});
