/**
 * `mzt`: the conductor's command line (its executable is bin.ts). Every client command talks
 * to the conductor over its socket; when nobody answers it says so in one line (with the
 * socket path and how to start it) and exits 3. The commands are added by concern from the
 * modules beside this one.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConductorNotRunning, RpcError, TimeoutError } from '../ipc/clientErrors.js';
import { parseNumber, UsageError } from './args.js';
import { withClient } from './conductorClient.js';
import type { TopSort } from './top.js';
import { addConductorCommands } from './conductorCommands.js';

const EXIT_NOT_RUNNING = 3;

/** `mzt conductor start`: the conductor's own process, which runs from the same executable. */
const startsConductor = (argv: string[]) => argv[2] === 'conductor' && argv[3] === 'start';

async function buildProgram(argv: string[], entry: string): Promise<Command> {
  const program = new Command('mzt')
    .description('mzt conductor: run jobs, watch what they cost, stream every event')
    .showHelpAfterError()
    .exitOverride();

  addConductorCommands(program, entry);
  // The conductor needs none of the client commands: loading them would cost its process 2-5 MB
  // for as long as it runs (BENCHMARKS.md, idle RSS).
  if (startsConductor(argv)) return program;

  const [
    { addSubmitCommand },
    { addClearCommand },
    { addFleetCommands },
    { addJobCommands },
    { addJobControlCommands },
    { addTraceCommand },
    { TOP_KEYS, runTop },
    { addDashboardCommands },
    { addRawCommands },
  ] = await Promise.all([
    import('./submit.js'),
    import('./clear.js'),
    import('./fleet.js'),
    import('./jobCommands.js'),
    import('./jobControl.js'),
    import('./trace.js'),
    import('./top.js'),
    import('./dashboardCommands.js'),
    import('./rawCommands.js'),
  ]);
  // Each command gets one connection (withClient), closed when it is done.
  addSubmitCommand(program, withClient);
  addClearCommand(program, withClient);
  addFleetCommands(program);
  addJobCommands(program, withClient);
  addJobControlCommands(program, withClient);
  addTraceCommand(program, withClient);

  program
    .command('top')
    .description('live view of the machine, the jobs and every process the conductor runs')
    .option('--once', 'print one snapshot and exit')
    .option('--json', 'print snapshots as JSON lines (the same shape as monitor.jsonl)')
    .addOption(new Option('--sort <key>', 'process order').choices(['cpu', 'mem', 'pid', 'job']).default('cpu'))
    .addOption(new Option('--interval <seconds>', 'refresh interval').default(2).argParser(parseNumber('--interval')))
    .option('--tree', "processes as a tree under each job's totals row (key t on a terminal)")
    .addHelpText('after', `\nKeys on a terminal: ${TOP_KEYS}`)
    .action(async (opts: { once?: boolean; json?: boolean; sort: TopSort; interval: number; tree?: boolean }) => {
      await withClient((client) => runTop(client, { intervalSeconds: opts.interval, sort: opts.sort, once: !!opts.once, json: !!opts.json, tree: !!opts.tree }), {
        reconnect: !opts.once,
      });
    });

  addDashboardCommands(program, withClient);
  addRawCommands(program);
  return program;
}

/** Runs the command in process.argv; `entry` is the executable a detached conductor is started from. */
export async function runCli(entry: string): Promise<void> {
  const program = await buildProgram(process.argv, entry);
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof ConductorNotRunning) {
      process.stderr.write(`mzt: ${err.message}\n`);
      process.exitCode = EXIT_NOT_RUNNING;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`mzt: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof RpcError) {
      process.stderr.write(`mzt: ${err.message} (code ${err.code})\n`);
      process.exitCode = 1;
      return;
    }
    if (err instanceof TimeoutError) {
      process.stderr.write(`mzt: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`mzt: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
