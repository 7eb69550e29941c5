/** `mzt pause ID` / `mzt resume ID`: SIGSTOP / SIGCONT of a running job's sheet tree. */
import type { Command } from 'commander';
import type { DaemonClient } from '../ipc/client.js';
import { printJson } from './output.js';

type WithClient = <T>(fn: (client: DaemonClient) => Promise<T>) => Promise<T>;

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
}
