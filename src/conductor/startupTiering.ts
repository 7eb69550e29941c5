/**
 * Start-up runs code once: module loading (URL and path resolution, the CommonJS export
 * lexer), schema compilation, the store's catch-up. V8 judges some of it hot and compiles it
 * with its optimizing compiler on background threads, and it grows the young generation to
 * the start-up allocation rate; an idle conductor then keeps that memory — the compiler's
 * code pages and arenas and a young generation sized for a rate it will not see again.
 *
 * So a conductor process starts with the optimizing compiler off and the young generation
 * held at its first size, and gets V8's defaults back once it is ready: from then on, the
 * code that runs hot under load (commits, frames, fan-out) is optimized and the heap grows
 * as it always did. Measured in BENCHMARKS.md (idle RSS, and the stream rows unchanged).
 * Nothing is held back when the process was started with its own V8 tuning flags.
 */
import v8 from 'node:v8';

/** V8 11's defaults for what is held back (`node --v8-options`). */
const RELEASE_FLAGS = ['--turbofan', '--semi-space-growth-factor=2'];
const HOLD_FLAGS = ['--no-turbofan', '--semi-space-growth-factor=1'];
const OWN_TUNING = /--(no-)?(opt|turbofan)\b|semi-space|--optimize-for-size/;

let held = false;

/** Called first thing in a process that will run a conductor. */
export function holdBackStartupTiering(): void {
  if (held || OWN_TUNING.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '))) return;
  for (const flag of HOLD_FLAGS) v8.setFlagsFromString(flag);
  held = true;
}

/** The conductor is ready: V8's defaults from now on (no effect if nothing was held back). */
export function releaseStartupTiering(): void {
  if (!held) return;
  for (const flag of RELEASE_FLAGS) v8.setFlagsFromString(flag);
  held = false;
}

/** Whether start-up tuning is in force now (for tests). */
export const startupTieringHeld = (): boolean => held;
