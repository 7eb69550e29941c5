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
import { escalateLater } from './escalations.js';

/** A scan yields to the event loop after synchronous stretches of this length. */
const SCAN_SLICE_MS = 2;

let sharedReader: ProcReader | undefined;

/** The /proc reader shared by the sheet helpers, made on first use. */
export function procReader(): ProcReader {
  return (sharedReader ??= new ProcReader());
}

/** A process's MZT_SHEET_ID, or undefined (none, gone, or not ours to read). */
export function markerOfProcess(pid: number, reader = procReader()): string | undefined {
  const environ = reader.readEnviron(pid);
  return environ ? markerIn(environ) : undefined;
}

/** A live process that carries a sheet marker. */
export interface MarkedProcess extends ProcIdentity {
  marker: string;
  pgid: number;
}

/**
 * Live processes of the conductor's uid whose MZT_SHEET_ID `wanted` accepts (pids `skip` names
 * are not read), as a step generator (see runSliced). The one /proc marker scan: the sheets'
 * stops and the start-up stop of a previous run's orphans both use it.
 */
export function* markedProcessesSteps(
  reader: ProcReader,
  wanted: (marker: string) => boolean,
  skip: (pid: number) => boolean = () => false,
): Generator<void, MarkedProcess[]> {
  const uid = process.getuid?.();
  const markerOf = (pid: number) => markerOfProcess(pid, reader);
  const out: MarkedProcess[] = [];
  const names = readdirSync(reader.procRoot);
  yield;
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const pid = Number(name);
    if (pid === process.pid || skip(pid)) continue;
    if (uid !== undefined && reader.ownerUid(pid) !== uid) continue;
    const marker = markerOf(pid);
    yield;
    if (marker === undefined || !wanted(marker)) continue;
    // Read the start time, then the marker again: had the pid died and been reused between the
    // two reads, the new process would have to carry the same marker too.
    const stat = reader.readStat(pid);
    if (!stat || stat.state === 'Z' || markerOf(pid) !== marker) continue;
    out.push({ pid, startTicks: stat.startTicks, pgid: stat.pgid, marker });
  }
  return out;
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
  const skip = (pid: number) => pid <= 1 || pid === process.pid || found.has(pid);
  for (const id of query.known?.() ?? []) {
    const stat = skip(id.pid) ? undefined : reader.readStat(id.pid);
    // A different start time: the pid was reused.
    if (stat && stat.state !== 'Z' && stat.pgid !== query.pgid && stat.startTicks === id.startTicks) found.set(id.pid, id);
    yield;
  }
  if (query.marker === undefined) return [...found.values()];
  const marked = yield* markedProcessesSteps(reader, (m) => m === query.marker, skip);
  for (const p of marked) if (p.pgid !== query.pgid) found.set(p.pid, { pid: p.pid, startTicks: p.startTicks });
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

/** Whether a process is still the same one (same start time) and not a zombie. */
export function stillRunning(id: ProcIdentity, reader = procReader()): boolean {
  const stat = reader.readStat(id.pid);
  return stat !== undefined && stat.startTicks === id.startTicks && stat.state !== 'Z';
}

/**
 * Signals each process that is still the same one; returns the pids signalled. Without pidfds a
 * window of microseconds remains between the check and the kill in which a pid could die and be
 * reused.
 */
export function signalIdentities(ids: readonly ProcIdentity[], signal: NodeJS.Signals, reader = procReader()): number[] {
  const signalled: number[] = [];
  for (const id of ids) {
    if (!stillRunning(id, reader)) continue;
    try {
      process.kill(id.pid, signal);
      signalled.push(id.pid);
    } catch {
      // gone meanwhile, or not ours to signal
    }
  }
  return signalled;
}

/**
 * One sheet's escaped-process stop, called at cancel or timeout and again at the sheet's end
 * (for what was started since). A round SIGTERMs only processes no earlier round did and
 * SIGKILLs its own survivors after the grace period, even if the sheet has settled by then:
 * each escaped process gets each signal, and is reported, once.
 */
export function escapedStopper(opts: {
  killGraceSeconds: number;
  onSignalled?: (signal: NodeJS.Signals, pids: number[]) => void;
}): (query: EscapedQuery) => Promise<void> {
  const seen = new Set<string>();
  const key = (id: ProcIdentity) => `${id.pid}:${id.startTicks}`;
  return async (query) => {
    const found = await findEscaped(query);
    const fresh = found.filter((id) => !seen.has(key(id)));
    for (const id of fresh) seen.add(key(id));
    const termed = signalIdentities(fresh, 'SIGTERM');
    if (termed.length === 0) return;
    opts.onSignalled?.('SIGTERM', termed);
    escalateLater(
      opts.killGraceSeconds * 1000,
      () => fresh.some((id) => stillRunning(id)),
      () => {
        const killed = signalIdentities(fresh, 'SIGKILL');
        if (killed.length > 0) opts.onSignalled?.('SIGKILL', killed);
      },
    );
  };
}

/** One sheet's pause of its escaped processes (see escapedPauser). */
export interface EscapedPauser {
  /** Find the escaped processes and SIGSTOP them (call after the group's SIGSTOP). */
  pause(query: EscapedQuery): Promise<void>;
  /** SIGCONT what the pause stopped: at resume, and before a stop's SIGTERM. */
  resume(): void;
  /** Take over what a previous conductor's pause stopped (kept on disk by a live sheet). */
  restore(ids: readonly ProcIdentity[]): void;
}

/**
 * A signal to the group misses escaped processes, so a pause stops them by pid and resume
 * continues exactly those (never a process someone else stopped). A stopped process cannot act
 * on SIGTERM, hence the resume before a stop. A scan that ends after a resume or stop is dropped.
 * `onStopped` hears the stopped set, so that a live sheet can keep it across a restart.
 */
export function escapedPauser(onStopped?: (ids: readonly ProcIdentity[]) => void): EscapedPauser {
  let stopped: ProcIdentity[] = [];
  let generation = 0;
  return {
    async pause(query) {
      const mine = ++generation;
      const found = await findEscaped(query);
      if (mine !== generation) return; // resumed or stopped while looking
      stopped = found.filter((id) => signalIdentities([id], 'SIGSTOP').length > 0);
      if (stopped.length > 0) onStopped?.(stopped);
    },
    resume() {
      generation++;
      signalIdentities(stopped, 'SIGCONT');
      stopped = [];
    },
    restore(ids) {
      stopped = [...ids];
    },
  };
}
