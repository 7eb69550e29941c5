/**
 * `mzt pause ID` / `mzt resume ID`: SIGSTOP / SIGCONT of a running job's sheet tree.
 * `mzt retry ID [--from-sheet N]`: run an ended job again under its id.
 */
import type { Command } from 'commander';
import { printJson } from './output.js';
import { parseInteger } from './args.js';
import type { WithClient } from './conductorClient.js';

export function addJobControlCommands(program: Command, withClient: WithClient): void {
  for (const [name, method, what] of [
    ['pause', 'job.pause', "pause a running job (SIGSTOP to its sheet's whole tree; its timeout is held)"],
    ['resume', 'job.resume', 'resume a paused job (SIGCONT; its timeout runs again for the time that was left)'],
  ] as const) {
    program
      .command(name)
      .description(what)
      .argument('<id>')
      .option('--json', 'print as JSON')
      .action(async (id: string, opts: { json?: boolean }) => {
        const res = await withClient((c) => c.call(method, { job_id: id }));
        if (opts.json) printJson(res);
        else process.stdout.write(`${res.job_id} ${res.status}\n`);
      });
  }

  program
    .command('retry')
    .description('run a failed, cancelled or interrupted job again from its first unfinished sheet; completed sheets are not run again')
    .argument('<id>')
    .option('--from-sheet <n>', 'start at this sheet (a completed job needs it; it may not skip an unfinished sheet)', parseInteger('--from-sheet'))
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { fromSheet?: number; json?: boolean }) => {
      const params = { job_id: id, ...(opts.fromSheet !== undefined ? { from_sheet: opts.fromSheet } : {}) };
      const res = await withClient((c) => c.call('job.retry', params));
      if (opts.json) printJson(res);
      else process.stdout.write(`${res.job_id} ${res.status} (attempt ${res.attempt}, from sheet ${res.from_sheet})\n`);
    });
}
