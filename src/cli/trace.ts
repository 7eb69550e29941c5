/**
 * `mzt trace ID [--seconds 10]`: syscall hotspots of a running job (job.trace: strace -c -f on
 * its sheet's tree, bounded), and the text both it and `mzt diagnose` print for a trace.
 */
import { Command, Option } from 'commander';
import { parseNumber, UsageError } from './args.js';
import { printJson, table } from './output.js';
import type { WithClient } from './conductorClient.js';

/** The server's cap (protocol/schemas/methods.json job.trace). */
export const MAX_TRACE_SECONDS = 300;

export interface TraceView {
  sheet_num?: number;
  seconds_requested: number;
  duration_seconds: number;
  pids_traced: number;
  unattached_pids: number;
  ended_by: string;
  total_calls: number;
  total_seconds: number;
  syscalls: Array<{ syscall: string; calls: number; errors: number; seconds: number }>;
}

const ENDED: Record<string, string> = {
  time: 'after the requested time',
  processes_ended: 'early: every traced process ended',
  stopped: 'early: the conductor stopped it',
};

/** Top syscalls by count and by time, as a text block. */
export function formatTrace(t: TraceView, top = 10): string {
  const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(1)}%` : '-');
  const byCount = t.syscalls.slice(0, top);
  const byTime = [...t.syscalls].sort((a, b) => b.seconds - a.seconds).slice(0, top);
  const head =
    `${t.sheet_num !== undefined ? `sheet ${t.sheet_num}: ` : ''}${t.pids_traced} process(es) traced for ${t.duration_seconds.toFixed(1)} s ` +
    `(${ENDED[t.ended_by] ?? t.ended_by})${t.unattached_pids ? `, ${t.unattached_pids} could not be attached` : ''}; ` +
    `${t.total_calls} syscalls, ${t.total_seconds.toFixed(3)} s in the kernel`;
  if (t.syscalls.length === 0) return `${head}\n(no syscalls seen)\n`;
  return [
    head,
    'by count:',
    table(['SYSCALL', 'CALLS', 'SHARE', 'ERRORS'], byCount.map((r) => [r.syscall, String(r.calls), pct(r.calls, t.total_calls), String(r.errors)])),
    'by time:',
    table(['SYSCALL', 'SECONDS', 'SHARE', 'CALLS'], byTime.map((r) => [r.syscall, r.seconds.toFixed(6), pct(r.seconds, t.total_seconds), String(r.calls)])),
  ].join('\n') + '\n';
}

export function addTraceCommand(program: Command, withClient: WithClient): void {
  program
    .command('trace')
    .description("syscall hotspots of a running job: strace -c -f on its sheet's whole tree for a while, then detached")
    .argument('<id>')
    .addOption(new Option('--seconds <n>', `how long to trace (at most ${MAX_TRACE_SECONDS})`).default(10).argParser(parseNumber('--seconds')))
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nNeeds strace (Debian: apt-get install strace) and permission to ptrace the job (root, CAP_SYS_PTRACE or kernel.yama.ptrace_scope 0).')
    .action(async (id: string, opts: { seconds: number; json?: boolean }) => {
      if (!(opts.seconds > 0) || opts.seconds > MAX_TRACE_SECONDS) {
        throw new UsageError(`--seconds must be more than 0 and at most ${MAX_TRACE_SECONDS}`);
      }
      if (!opts.json) process.stderr.write(`tracing job ${id} for ${opts.seconds} s...\n`);
      const res = await withClient((c) => c.call('job.trace', { job_id: id, seconds: opts.seconds }, { timeoutMs: (opts.seconds + 60) * 1000 }));
      if (opts.json) printJson(res);
      else process.stdout.write(formatTrace(res as TraceView));
    });
}
