/**
 * Following a job's output through `job.logs` (never the file itself: the conductor owns the
 * log's format and where it lives). Used by `mzt logs -f` and `mzt submit --wait`.
 */
import type { DaemonClient } from '../ipc/client.js';

const POLL_MS = 250;
// pending: a restart backoff, the job goes on after it.
const ACTIVE = ['queued', 'running', 'paused', 'pending'];

/**
 * Calls `onLines` with every complete log line from byte `offset` until the job has ended and
 * its log is drained; resolves with the job's final status. `stopped()` ends it early.
 */
export async function followLog(
  client: DaemonClient,
  jobId: string,
  offset: number,
  onLines: (lines: string[]) => void,
  stopped: () => boolean = () => false,
): Promise<string> {
  for (;;) {
    const part = await client.call('job.logs', { job_id: jobId, offset });
    if (part.lines.length) onLines(part.lines);
    const drained = part.next_offset >= part.size;
    offset = part.next_offset;
    if ((drained && !ACTIVE.includes(part.status)) || stopped()) return part.status;
    if (drained) await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export interface LogLine {
  sheet: number;
  stream: 'out' | 'err' | 'sys';
  text: string;
}

/** `job.logs` lines are `<time> <sheet> <out|err|sys> <text>` (PROTOCOL.md, job.logs). */
const LOG_LINE = /^\S+ (\d+) (out|err|sys) ?(.*)$/s;

export function parseLogLine(line: string): LogLine | undefined {
  const m = LOG_LINE.exec(line);
  return m ? { sheet: Number(m[1]), stream: m[2] as LogLine['stream'], text: m[3]! } : undefined;
}

/**
 * The job's own output in log lines, as its process wrote it: stdout and stderr text apart,
 * the conductor's own (sys) lines left out. For `--wait`, which gives the job's streams back.
 */
export function jobOutput(lines: string[]): { out: string; err: string } {
  let out = '';
  let err = '';
  for (const raw of lines) {
    const line = parseLogLine(raw);
    if (line?.stream === 'out') out += `${line.text}\n`;
    else if (line?.stream === 'err') err += `${line.text}\n`;
  }
  return { out, err };
}
