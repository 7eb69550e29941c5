/**
 * Processes that escaped a sheet's process group (`setsid -f`, daemonizing tools) while a
 * conductor ran, and outlived it: the group stop of orphans.ts misses them. Each run's sheets
 * carry MZT_SHEET_ID=<run instance>:<job>#<sheet>; the instance is kept in the store's meta
 * table, so the next start finds the previous run's marked processes in /proc/<pid>/environ
 * (only the conductor's uid's, by the sheets' own scan in actors/escapedProcesses.ts) and stops
 * those of the jobs it closes as interrupted: SIGTERM (continued first if stopped), SIGKILL to
 * survivors after the grace period, each by pid and start time. Jobs re-adopted by
 * live_restore keep theirs.
 *
 * Limits: a second crash within the grace period leaves the SIGKILL undone (the next start
 * sends SIGTERM again); a process that cleared its environment carries no marker.
 */
import type { NewEvent } from '../events/types.js';
import { runToEnd } from '../probe/procReader.js';
import { newMarkerInstance, parseMarker, type ProcIdentity } from '../probe/sheetMarker.js';
import { markedProcessesSteps, procReader, signalIdentities } from '../actors/escapedProcesses.js';

export const MARKER_NOTE = 'sheet_marker_instance';

/** This run's marker instance, recorded in place of the previous run's (returned). */
export function takeMarkerInstance(store: { readNote(key: string): string | undefined; writeNote(key: string, value: string): void }): {
  previous: string | undefined;
  current: string;
} {
  const previous = store.readNote(MARKER_NOTE);
  const current = newMarkerInstance();
  store.writeNote(MARKER_NOTE, current);
  return { previous, current };
}

interface Escaped extends ProcIdentity {
  job_id: string;
  sheet_num: number;
}

/**
 * Live processes of the conductor's uid whose marker is `instance`'s and names one of `jobIds`,
 * outside the sheets' own process groups `groups` (those are the group stop's business).
 */
export function findMarked(instance: string, jobIds: ReadonlySet<string>, groups: ReadonlySet<number>, reader = procReader()): Escaped[] {
  const sheetOf = (marker: string) => {
    const sheet = parseMarker(instance, marker);
    return sheet && jobIds.has(sheet.job_id) ? sheet : undefined;
  };
  const marked = runToEnd(markedProcessesSteps(reader, (marker) => sheetOf(marker) !== undefined));
  return marked.filter((p) => !groups.has(p.pgid)).map((p) => ({ pid: p.pid, startTicks: p.startTicks, ...sheetOf(p.marker)! }));
}

/** Stops the previous run's escaped processes of `jobIds`; `finish` sends the SIGKILLs due (at stop). */
export function stopEscapedOrphans(deps: {
  previous: string | undefined;
  jobIds: ReadonlySet<string>;
  /** The sheets' process groups (their recorded pids). */
  groups: ReadonlySet<number>;
  graceSeconds: number;
  log(msg: string): void;
  record(event: NewEvent): void;
}): { finish(): Promise<void> } {
  if (!deps.previous || deps.jobIds.size === 0) return { finish: async () => undefined };
  let found: Escaped[];
  try {
    found = findMarked(deps.previous, deps.jobIds, deps.groups);
  } catch (err) {
    deps.log(`escaped orphans: ${(err as Error).message}`);
    return { finish: async () => undefined };
  }
  if (found.length === 0) return { finish: async () => undefined };
  const report = (signal: 'SIGTERM' | 'SIGKILL', pids: number[]) => {
    for (const [key, group] of groupBySheet(found.filter((f) => pids.includes(f.pid)))) {
      const [job_id, sheet] = key.split('#') as [string, string];
      deps.log(`${signal === 'SIGTERM' ? 'stopping' : 'killing'} ${group.length} escaped process(es) of orphaned sheet ${key} with ${signal}`);
      try {
        deps.record({
          type: 'process.kill',
          job_id,
          sheet_num: Number(sheet),
          data: { pid: group[0]!.pid, pgid: null, signal, reason: 'escaped_processes', pids: group.slice(0, 1000).map((g) => g.pid), count: group.length },
        });
      } catch (err) {
        deps.log(`escaped orphans: ${(err as Error).message}`);
      }
    }
  };
  const termed = signalIdentities(found, 'SIGTERM');
  signalIdentities(found, 'SIGCONT'); // a paused one acts on SIGTERM only once continued
  report('SIGTERM', termed);
  const kill = () => report('SIGKILL', signalIdentities(found, 'SIGKILL'));
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    kill();
  }, deps.graceSeconds * 1000);
  timer.unref();
  const due = Date.now() + deps.graceSeconds * 1000;
  return {
    finish: () =>
      new Promise<void>((resolve) => {
        if (!timer) return resolve();
        clearTimeout(timer);
        timer = undefined;
        setTimeout(() => {
          kill();
          resolve();
        }, Math.max(0, due - Date.now()));
      }),
  };
}

function groupBySheet(list: Escaped[]): Map<string, Escaped[]> {
  const out = new Map<string, Escaped[]>();
  for (const e of list) {
    const key = `${e.job_id}#${e.sheet_num}`;
    out.set(key, [...(out.get(key) ?? []), e]);
  }
  return out;
}
