/**
 * Gives memory back after a burst. V8 keeps the heap it grew while a burst of events went
 * through (it runs a full collection only under allocation pressure, and nothing allocates
 * much once the burst is over), so a conductor that had handled a million events stayed
 * ~30 MB above what it needed for as long as it stayed idle (BENCHMARKS.md, Memory). When the
 * conductor has been quiet for a whole check interval and its heap holds much more than it
 * uses, a compacting full collection (10-30 ms, at a moment little is happening: a request
 * arriving then waits that long) lets V8 shrink it; up to MAX_TRIES per burst.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface HeapReleaseOptions {
  /** A counter that moves while the conductor is busy, in bytes (events committed, bytes received). */
  activity: () => number;
  /**
   * Less activity than this in one interval counts as quiet (default 64 KiB): a `mzt top` or a
   * dashboard polling once a second is not a burst.
   */
  quietBytes?: number;
  log: (message: string) => void;
  /** How often to look (default 5 s): a release needs one whole interval without activity. */
  intervalMs?: number;
  /** Heap allocated beyond what is used, in MB, that is worth a collection (default 16). */
  minSlackMb?: number;
  /** Least time between two releases (default 10 s): at worst ~10 ms of collection per 10 s. */
  minGapMs?: number;
}

export interface HeapRelease {
  /** Collections run so far (for tests). */
  readonly releases: number;
  stop(): void;
}

const MB = 1024 * 1024;
/** Collections per burst at most (see the loop below). */
const MAX_TRIES = 3;

/**
 * V8's full collection, compacting, without starting node with --expose-gc; undefined when V8
 * refuses. A plain full collection frees objects but keeps every page that still holds one
 * live object (measured: a 54 MB heap with 18 MB in use stayed 54 MB); compaction moves them
 * so the pages can go. Compaction is switched on for this one collection only.
 */
function compactingCollection(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return undefined;
    return () => {
      v8.setFlagsFromString('--compact-on-every-full-gc');
      try {
        (gc as () => void)();
      } finally {
        v8.setFlagsFromString('--no-compact-on-every-full-gc');
      }
    };
  } catch {
    return undefined;
  }
}

export function startHeapRelease(options: HeapReleaseOptions): HeapRelease {
  const intervalMs = options.intervalMs ?? 5000;
  const minSlack = (options.minSlackMb ?? 16) * MB;
  const minGapMs = options.minGapMs ?? 10_000;
  const quietBytes = options.quietBytes ?? 64 * 1024;
  // Made at the first release (a V8 context: ~1 ms and ~1 MB a conductor that never needs one keeps).
  let collect: (() => void) | null | undefined;
  let releases = 0;
  let lastActivity = options.activity();
  let lastRelease = -Infinity;
  // Up to MAX_TRIES collections per burst: armed by an interval with activity, disarmed once
  // the heap has shrunk or after the last try. V8 shrinks its young generation only when it
  // judges the allocation rate low at that moment, which a later try may find when one did not.
  // Start-up alone does not arm it: its heap has little to give back (measured: 28 → 26 MB for a
  // 16.6 ms pause, which fell in the middle of sampling a 200-process job).
  let triesLeft = 0;
  const timer = setInterval(() => {
    const activity = options.activity();
    const quiet = activity - lastActivity < quietBytes;
    lastActivity = activity;
    if (!quiet) triesLeft = MAX_TRIES;
    if (collect === null || !quiet || triesLeft === 0 || performance.now() - lastRelease < minGapMs) return;
    const before = v8.getHeapStatistics();
    if (before.total_heap_size - before.used_heap_size < minSlack) {
      triesLeft = 0;
      return;
    }
    collect ??= compactingCollection() ?? null;
    if (collect === null) return;
    const started = performance.now();
    collect();
    lastRelease = performance.now();
    triesLeft -= 1;
    releases += 1;
    const after = v8.getHeapStatistics();
    if (after.total_heap_size - after.used_heap_size < minSlack) triesLeft = 0;
    options.log(
      `idle after activity: heap ${Math.round(before.total_heap_size / MB)} MB → ${Math.round(after.total_heap_size / MB)} MB ` +
        `(${Math.round(after.used_heap_size / MB)} MB in use; one compacting collection, ${(lastRelease - started).toFixed(1)} ms)`,
    );
  }, intervalMs);
  timer.unref();
  return {
    get releases() {
      return releases;
    },
    stop: () => clearInterval(timer),
  };
}
