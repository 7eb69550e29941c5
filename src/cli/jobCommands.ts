/**
 * `mzt jobs`, `mzt job ID`, `mzt logs ID [-f]` and `mzt diagnose ID`: list the jobs, read
 * one, print its output, and report what it cost (controlling a job: jobControl.ts).
 */
import { Option, type Command } from 'commander';
import { collect, parseInteger } from './args.js';
import type { WithClient } from './conductorClient.js';
import { followLog } from './follow.js';
import { jobRow, printJob } from './jobView.js';
import { localTime, printJson, table } from './output.js';
import { formatTrace, type TraceView } from './trace.js';

export function addJobCommands(program: Command, withClient: WithClient): void {
  program
    .command('jobs')
    .description('list jobs, newest first')
    .option('--status <status>', 'only jobs in this status (repeatable)', collect, [])
    .addOption(new Option('--limit <n>', 'at most this many').default(50).argParser(parseInteger('--limit')))
    .option('--json', 'print as JSON')
    .action(async (opts: { status: string[]; limit: number; json?: boolean }) => {
      const res = await withClient((c) =>
        c.call('job.list', { limit: opts.limit, ...(opts.status.length ? { status: opts.status as any } : {}) }),
      );
      if (opts.json) return printJson(res);
      if (res.jobs.length === 0) {
        process.stdout.write('no jobs\n');
        return;
      }
      process.stdout.write(`${table(['ID', 'NAME', 'STATUS', 'SHEETS', 'ATTEMPT', 'CPU%', 'RSS', 'CPU TIME', 'STARTED', 'DURATION'], res.jobs.map(jobRow))}\n`);
      if (res.total > res.jobs.length) process.stdout.write(`(${res.jobs.length} of ${res.total})\n`);
    });

  program
    .command('job')
    .description('show one job and its sheets')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const job = await withClient((c) => c.call('job.get', { job_id: id }));
      if (opts.json) printJson(job);
      else printJob(job);
    });

  program
    .command('logs')
    .description("print a job's output (timestamp, sheet, out|err|sys, text)")
    .argument('<id>')
    .option('-f, --follow', 'keep printing until the job ends')
    .addOption(new Option('-n, --lines <n>', 'how many lines from the end').default(100).argParser(parseInteger('--lines')))
    .action(async (id: string, opts: { follow?: boolean; lines: number }) => {
      await withClient(async (client) => {
        const first = await client.call('job.logs', { job_id: id, tail_lines: opts.lines });
        for (const line of first.lines) process.stdout.write(`${line}\n`);
        let offset = first.next_offset;
        // An answer is capped in bytes (`truncated`): the rest of the tail follows from next_offset.
        for (let more = first.truncated === true; more && !opts.follow; ) {
          const part = await client.call('job.logs', { job_id: id, offset });
          for (const line of part.lines) process.stdout.write(`${line}\n`);
          more = part.next_offset > offset && part.next_offset < first.size; // up to the end as it was asked
          offset = part.next_offset;
        }
        if (!opts.follow) return;
        await followLog(client, id, first.next_offset, (lines) => process.stdout.write(lines.map((l) => `${l}\n`).join('')));
      });
    });

  program
    .command('diagnose')
    .description("a job's resource report: peak memory per sheet, CPU time, spawns, signals, OOMs")
    .argument('<id>')
    .option('--resources', 'the resource report (the only report for now; implied)')
    .option('--json', 'print the report as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { report, traces } = await withClient(async (c) => {
        const report = await c.call('monitor.resource_report', { job_id: id });
        // The job's syscall traces (mzt trace), newest last; a few are enough to read.
        const read = await c.call('events.read', { since: 0, limit: 1000, job_id: id, types: ['monitor.trace'] });
        return { report, traces: read.events.slice(-5) };
      });
      if (opts.json) return printJson({ ...report, syscall_traces: traces.map((e) => ({ seq: e.seq, ts: e.ts, sheet_num: e.sheet_num, ...e.data })) });
      process.stdout.write(report.text_report);
      for (const e of traces) {
        process.stdout.write(`\nSyscall trace at ${localTime(e.ts)} (mzt trace):\n${formatTrace({ ...(e.data as unknown as TraceView), sheet_num: e.sheet_num ?? undefined })}`);
      }
    });
}
