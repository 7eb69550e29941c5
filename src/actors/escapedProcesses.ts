/**
 * Processes that belong to a sheet but left its process group (or session, or tree): `setsid`,
 * daemonizing build servers, an agent CLI's tool processes. A signal to the group misses them and
 * they hold the sheet's pipes. They are found only at cancel, timeout and the sheet's end (never
 * per sample), two ways:
 * - the sheet's environment marker (probe/sheetMarker.ts) in /proc/<pid>/environ, scanning only
 *   processes owned by the conductor's uid;
 * - what the profiler saw in the sheet's tree (pid + start time), which also covers a process
 *   that cleared its environment after it was sampled.
 * Each is signalled by pid after its start time is checked again (pids are reused).
 */
import { readdirSync } from 'node:fs';
import { ProcReader, runSliced } from '../probe/procReader.js';
import { markerIn, type ProcIdentity } from '../probe/sheetMarker.js';

/** A scan yields to the event loop after synchronous stretches of this length. */
const SCAN_SLICE_MS = 2;

let sharedReader: ProcReader | undefined;

/** The /proc reader shared by the sheet helpers, made on first use. */
export function procReader(): ProcReader {
  return (sharedReader ??= new ProcReader());
}

export interface EscapedQuery {
  /** The sheet's MZT_SHEET_ID value. */
  marker: string | undefined;
  /** The sheet's process group: its members are the group signal's business. */
  pgid: number;
  /** Processes the profiler saw in the sheet's tree. */
  known?: () => ProcIdentity[];
}

/** The sheet's live processes outside its group, as a step generator (see runSliced). */
export function* findEscapedSteps(reader: ProcReader, query: EscapedQuery): Generator<void, ProcIdentity[]> {
  const found = new Map<number, ProcIdentity>();
  const consider = (pid: number, startTicks?: number): boolean => {
    if (pid === process.pid || pid <= 1 || found.has(pid)) return false;
    const stat = reader.readStat(pid);
    if (!stat || stat.state === 'Z' || stat.pgid === query.pgid) return false;
    if (startTicks !== undefined && stat.startTicks !== startTicks) return false; // pid reused
    found.set(pid, { pid, startTicks: stat.startTicks });
    return true;
  };
  for (const id of query.known?.() ?? []) {
    consider(id.pid, id.startTicks);
    yield;
  }
  if (query.marker === undefined) return [...found.values()];
  const uid = process.getuid?.();
  const names = readdirSync(reader.procRoot);
  yield;
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const pid = Number(name);
    if (found.has(pid) || pid === process.pid) continue;
    if (uid !== undefined && reader.ownerUid(pid) !== uid) continue;
    const environ = reader.readEnviron(pid);
    yield;
    if (!environ || markerIn(environ) !== query.marker) continue;
    // Read the start time, then the marker again: had the pid died and been reused between the
    // two reads, the new process would have to carry this sheet's marker too.
    if (consider(pid)) {
      const again = reader.readEnviron(pid);
      if (!again || markerIn(again) !== query.marker) found.delete(pid);
    }
  }
  return [...found.values()];
}

/** Never rejects: a /proc that cannot be read finds nothing. */
export async function findEscaped(query: EscapedQuery, reader = procReader()): Promise<ProcIdentity[]> {
  try {
    return (await runSliced(findEscapedSteps(reader, query), SCAN_SLICE_MS)).value;
  } catch {
    return [];
  }
}

/**
 * Signals each process that is still the same one (same start time) and not a zombie; returns
 * the pids signalled. Without pidfds a window of microseconds remains between the check and the
 * kill in which a pid could die and be reused.
 */
export function signalIdentities(ids: readonly ProcIdentity[], signal: NodeJS.Signals, reader = procReader()): number[] {
  const signalled: number[] = [];
  for (const id of ids) {
    const stat = reader.readStat(id.pid);
    if (!stat || stat.startTicks !== id.startTicks || stat.state === 'Z') continue;
    try {
      process.kill(id.pid, signal);
      signalled.push(id.pid);
    } catch {
      // gone meanwhile, or not ours to signal
    }
  }
  return signalled;
}
