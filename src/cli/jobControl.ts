/**
 * `mzt cancel ID`: stop a job's whole process tree.
 * `mzt pause ID` / `mzt resume ID`: SIGSTOP / SIGCONT of a running job's sheet tree.
 * `mzt retry ID [--from-sheet N]`: run an ended job again under its id.
 */
import type { Command } from 'commander';
import { printJson } from './output.js';
import { parseInteger } from './args.js';
import type { WithClient } from './conductorClient.js';

export function addJobControlCommands(program: Command, withClient: WithClient): void {
  // A cancel waits until the tree is gone (SIGTERM, the grace, SIGKILL): longer than the usual request timeout.
  for (const [name, method, what, timeoutMs] of [
    ['cancel', 'job.cancel', 'cancel a job (its whole process tree is stopped)', 120_000],
    ['pause', 'job.pause', "pause a running job (SIGSTOP to its sheet's whole tree; its timeout is held)", undefined],
    ['resume', 'job.resume', 'resume a paused job (SIGCONT; its timeout runs again for the time that was left)', undefined],
  ] as const) {
    program
      .command(name)
      .description(what)
      .argument('<id>')
      .option('--json', 'print as JSON')
      .action(async (id: string, opts: { json?: boolean }) => {
        const res = await withClient((c) => c.call(method, { job_id: id }, { timeoutMs }));
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
