/**
 * Gives memory back after a burst. V8 keeps the heap it grew while a burst of events went
 * through (it runs a full collection only under allocation pressure, and nothing allocates
 * much once the burst is over), so a conductor that had handled a million events stayed
 * ~30 MB above what it needed for as long as it stayed idle (BENCHMARKS.md, Memory). When the
 * conductor has been quiet for a whole check interval and its heap holds much more than it
 * uses, one compacting full collection (10-25 ms, at a moment nothing is happening) lets V8
 * shrink it.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface HeapReleaseOptions {
  /** A counter that moves while the conductor is busy (committed events). */
  activity: () => number;
  log: (message: string) => void;
  /** How often to look (default 5 s): a release needs one whole interval without activity. */
  intervalMs?: number;
  /** Heap allocated beyond what is used, in MB, that is worth a collection (default 16). */
  minSlackMb?: number;
  /** Least time between two releases (default 10 s): at worst ~10 ms of collection per 10 s. */
  minGapMs?: number;
}

export interface HeapRelease {
  /** Collections run so far (for tests and daemon.status). */
  readonly releases: number;
  stop(): void;
}

const MB = 1024 * 1024;

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
  const collect = compactingCollection();
  let releases = 0;
  let lastActivity = options.activity();
  let lastRelease = -Infinity;
  // One release per burst: armed by activity (start-up counts), disarmed by a release. What
  // one full collection could not give back, another one will not either.
  let armed = true;
  const timer = setInterval(() => {
    const activity = options.activity();
    const quiet = activity === lastActivity;
    lastActivity = activity;
    if (!quiet) armed = true;
    if (!collect || !quiet || !armed || performance.now() - lastRelease < minGapMs) return;
    const before = v8.getHeapStatistics();
    if (before.total_heap_size - before.used_heap_size < minSlack) return;
    const started = performance.now();
    collect();
    lastRelease = performance.now();
    armed = false;
    releases += 1;
    const after = v8.getHeapStatistics();
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
