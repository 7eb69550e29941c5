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
  it('shrinks the heap once when quiet after a burst, and again only after new activity', async () => {
    const logs: string[] = [];
    let events = 0;
    let survivors = burst();
    const grown = v8.getHeapStatistics().total_heap_size;
    const release = startHeapRelease({ activity: () => events, log: (m) => logs.push(m), intervalMs: 50, minSlackMb: 8, minGapMs: 0 });
    try {
      await vi.waitFor(() => expect(release.releases).toBe(1), { timeout: 5000 });
      const after = v8.getHeapStatistics();
      // ~100 MB grown, ~2 MB alive: compaction gives back most of it (a plain collection
      // keeps every page holding a survivor).
      expect(after.total_heap_size).toBeLessThan(grown / 2);
      expect(survivors).toHaveLength(20_000);
      expect(logs[0]).toMatch(/^idle after activity: heap \d+ MB → \d+ MB .*one compacting collection/);
      // Once per burst: quiet ticks after it do not collect again.
      await new Promise((r) => setTimeout(r, 300));
      expect(release.releases).toBe(1);
      // A new burst (events committed) arms it again.
      events += 1000;
      survivors = burst();
      await vi.waitFor(() => expect(release.releases).toBe(2), { timeout: 5000 });
    } finally {
      release.stop();
    }
  });

  it('leaves a busy conductor alone', async () => {
    let events = 0;
    burst();
    const release = startHeapRelease({ activity: () => (events += 10), log: () => {}, intervalMs: 50, minSlackMb: 1, minGapMs: 0 });
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(release.releases).toBe(0);
    } finally {
      release.stop();
    }
  });
});
