/**
 * Every sheet runs with `MZT_SHEET_ID=<conductor instance>:<job_id>#<sheet_num>` in its
 * environment. Children inherit it, so a process that left the sheet's group, session and tree
 * (`setsid -f`, a daemonizing tool) can still be told apart by /proc/<pid>/environ — the
 * environment it was started with. The instance part is random per conductor run: two
 * conductors on one machine never match each other's processes.
 *
 * Limits: a process started with a cleared or rewritten environment (`env -i`, a launcher that
 * builds its own) carries no marker; what it was given at exec is what /proc shows.
 */
import crypto from 'node:crypto';

export const SHEET_MARKER_VAR = 'MZT_SHEET_ID';

const NEEDLE = Buffer.from(`${SHEET_MARKER_VAR}=`);

/** A process across pid reuse: its pid and its start time (clock ticks after boot). */
export interface ProcIdentity {
  pid: number;
  startTicks: number;
}

/** A fresh random instance id for one conductor run. */
export function newMarkerInstance(): string {
  return crypto.randomBytes(9).toString('base64url');
}

export function markerValue(instance: string, jobId: string, sheetNum: number): string {
  return `${instance}:${jobId}#${sheetNum}`;
}

/** The job and sheet a marker names, if it is one of `instance`'s. */
export function parseMarker(instance: string, value: string): { job_id: string; sheet_num: number } | undefined {
  if (!value.startsWith(`${instance}:`)) return undefined;
  const hash = value.lastIndexOf('#');
  const sheet = Number(value.slice(hash + 1));
  const jobId = value.slice(instance.length + 1, hash);
  if (hash <= instance.length || !Number.isInteger(sheet) || sheet < 1 || jobId.length === 0) return undefined;
  return { job_id: jobId, sheet_num: sheet };
}

/** The value of MZT_SHEET_ID in a NUL-separated environment block, or undefined. */
export function markerIn(environ: Buffer): string | undefined {
  for (let at = environ.indexOf(NEEDLE); at >= 0; at = environ.indexOf(NEEDLE, at + 1)) {
    if (at > 0 && environ[at - 1] !== 0) continue; // inside another variable's value
    const from = at + NEEDLE.length;
    const end = environ.indexOf(0, from);
    return environ.toString('utf8', from, end < 0 ? environ.length : end);
  }
  return undefined;
}
