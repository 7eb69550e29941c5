/**
 * `mzt submit`: one job from the command line (`-- argv` or `--sheet`), or the jobs of a job
 * file (`-f`). With `--wait` it behaves like `docker run`: the job's output comes to this
 * terminal as it is written (stdout to stdout, stderr to stderr) and mzt exits with the
 * sheet's own exit code. Ctrl-C (or SIGTERM) while waiting cancels the job, as docker run
 * forwards the signal to its container; a second one stops waiting at once.
 */
import os from 'node:os';
import { Command } from 'commander';
import type { DaemonClient } from '../ipc/client.js';
import type { JobRecord, JobSpec, SheetSpec } from '../events/jobRecord.js';
import { collect, keyValues, parseNumber, UsageError } from './args.js';
import { followLog, jobOutput } from './follow.js';
import { printJson } from './output.js';
import type { WithClient } from './conductorClient.js';

export interface SubmitOptions {
  file?: string;
  name?: string;
  id?: string;
  timeout?: number;
  cwd?: string;
  env: string[];
  label: string[];
  sheet: string[];
  wait?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** How `mzt submit --wait` exits for a job that ended: what its last sheet did, like docker run. */
export function exitCodeOf(job: JobRecord): number {
  if (job.status === 'completed') return 0;
  const sheet = [...job.sheets].reverse().find((s) => !['pending', 'skipped', 'completed'].includes(s.status));
  if (sheet?.signal) return 128 + (os.constants.signals[sheet.signal as NodeJS.Signals] ?? 0);
  if (typeof sheet?.exit_code === 'number' && sheet.exit_code !== 0) return sheet.exit_code;
  if (job.reason?.startsWith('spawn_error')) return 127; // as a shell says "command not found"
  return job.status === 'failed' ? 1 : 2; // e.g. cancelled before a sheet ran
}

function sheetsFromArgs(argv: string[], opts: SubmitOptions): SheetSpec[] {
  const sheets: SheetSpec[] = [];
  for (const raw of opts.sheet) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new UsageError(`--sheet must be a JSON array of strings, got: ${raw}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string')) {
      throw new UsageError(`--sheet must be a non-empty JSON array of strings, got: ${raw}`);
    }
    sheets.push({ argv: parsed as string[] });
  }
  if (argv.length > 0) sheets.push({ argv });
  if (sheets.length === 0) throw new UsageError('nothing to run: give a command after --, one or more --sheet, or -f FILE');
  if (opts.timeout !== undefined) for (const s of sheets) s.timeout_seconds = opts.timeout;
  return sheets;
}

/** The jobs a submit command line names (a command, --sheet, or a job file). */
export async function specsFromOptions(argv: string[], opts: SubmitOptions): Promise<JobSpec[]> {
  const labels = keyValues(opts.label, '--label');
  const withLabels = (spec: JobSpec): JobSpec =>
    Object.keys(labels).length ? { ...spec, labels: { ...spec.labels, ...labels } } : spec;
  if (opts.file !== undefined) {
    if (argv.length || opts.sheet.length) throw new UsageError('-f FILE and a command (-- or --sheet) do not go together');
    for (const [flag, set] of [['--timeout', opts.timeout !== undefined], ['--cwd', opts.cwd !== undefined], ['--env', opts.env.length > 0]] as const) {
      if (set) throw new UsageError(`${flag} does not go with -f: set it in the job file`);
    }
    // Loaded only for -f: the YAML parser adds ~4 MB to every process that imports it, and the
    // conductor runs from this same CLI entry.
    const { JobFileError, readJobFile } = await import('./jobFile.js');
    let specs: JobSpec[];
    try {
      specs = readJobFile(opts.file);
    } catch (err) {
      if (err instanceof JobFileError) throw new UsageError(err.message);
      throw err;
    }
    if (specs.length > 1 && (opts.name || opts.id)) throw new UsageError(`--name and --id need a file with one job; ${opts.file} has ${specs.length}`);
    return specs.map((s) => withLabels({ ...s, ...(opts.name ? { name: opts.name } : {}), ...(opts.id ? { job_id: opts.id } : {}) }));
  }
  const env = keyValues(opts.env, '--env');
  return [
    withLabels({
      sheets: sheetsFromArgs(argv, opts),
      cwd: opts.cwd ?? process.cwd(),
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.id ? { job_id: opts.id } : {}),
      ...(Object.keys(env).length ? { env } : {}),
    }),
  ];
}

/** Follow a job's events to its end (the status lines of `--wait --quiet`). */
async function followToEnd(client: DaemonClient, jobId: string, since: number): Promise<void> {
  const sub = client.subscribe({ since, job_id: jobId, types: ['job.'] });
  for await (const item of sub) {
    if (item.kind === 'event' && ['job.completed', 'job.failed', 'job.cancelled', 'job.interrupted'].includes(item.event.type)) {
      await sub.unsubscribe();
      return;
    }
  }
  throw new Error('the event stream ended before the job did');
}

/**
 * Wait for the job's end, its output streamed unless `quiet`. The first SIGINT/SIGTERM cancels
 * the job and keeps waiting for it to end; a second one exits at once (130), the job left to
 * its cancel.
 */
async function waitForJob(client: DaemonClient, res: { job_id: string; seq: number }, opts: SubmitOptions): Promise<number> {
  const id = res.job_id;
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals === 1) {
      process.stderr.write(`mzt: cancelling job ${id} (Ctrl-C again to stop waiting)\n`);
      client.call('job.cancel', { job_id: id, reason: 'cancelled by mzt submit --wait (signal)' }, { timeoutMs: 120_000 }).catch((err: Error) => {
        process.stderr.write(`mzt: could not cancel ${id}: ${err.message}\n`);
      });
    } else {
      process.stderr.write(`mzt: stopped waiting; job ${id} is being cancelled (mzt job ${id})\n`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // --json: stdout is the job's JSON alone, so no output either.
    await (opts.quiet || opts.json
      ? followToEnd(client, id, res.seq - 1)
      : followLog(client, id, 0, (lines) => {
          const { out, err } = jobOutput(lines);
          if (out) process.stdout.write(out);
          if (err) process.stderr.write(err);
        }));
    const job = await client.call('job.get', { job_id: id });
    const code = exitCodeOf(job);
    if (opts.json) printJson(job);
    else if (opts.quiet) process.stdout.write(`${id} ${job.status}${job.reason ? ` (${job.reason})` : ''}\n`);
    else if (code !== 0) process.stderr.write(`mzt: job ${id} ${job.status}${job.reason ? ` (${job.reason})` : ''}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The options that describe the job(s): shared by `mzt submit` and `mzt fleet submit`. */
export function addJobSpecOptions(command: Command): Command {
  return command
    .argument('[argv...]', 'the program and its arguments (after --)')
    .option('-f, --file <path>', 'a YAML or JSON job file (protocol/schemas/jobfile.json); several jobs: YAML documents separated by ---')
    .option('--name <name>', 'a name for the job')
    .option('--id <id>', 'choose the job id ([A-Za-z0-9_.-]{1,64})')
    .option('--timeout <seconds>', 'timeout of each sheet', parseNumber('--timeout'))
    .option('--cwd <dir>', 'working directory (default: the current one)')
    .option('--env <K=V>', 'environment variable for the job (repeatable)', collect, [])
    .option('--label <K=V>', 'a label of the job (repeatable; added to a job file\'s labels)', collect, [])
    .option('--sheet <json-argv>', 'a sheet as a JSON array, e.g. \'["make","test"]\' (repeatable)', collect, []);
}

export function addSubmitCommand(program: Command, withClient: WithClient): void {
  addJobSpecOptions(
    program.command('submit').description('submit a job: one sheet from the command after --, several with --sheet, or the jobs of a job file (-f)'),
  )
    .option('--wait', "like docker run: stream the job's output here (stdout to stdout, stderr to stderr) and exit with its exit code (128+signal if killed); Ctrl-C cancels the job")
    .option('--quiet', 'with --wait: print status lines instead of the output')
    .option('--json', 'print the result as JSON')
    .action(async (argv: string[], opts: SubmitOptions) => {
      if (opts.quiet && !opts.wait) throw new UsageError('--quiet goes with --wait');
      const specs = await specsFromOptions(argv, opts);
      if (opts.wait && specs.length > 1) throw new UsageError(`--wait follows one job; ${opts.file} has ${specs.length}`);
      await withClient(async (client) => {
        const results = [];
        for (const spec of specs) {
          const res = await client.call('job.submit', spec);
          results.push(res);
          if (opts.wait) {
            // With the output streamed, stdout is the job's alone.
            if (!opts.json) (opts.quiet ? process.stdout : process.stderr).write(`${res.job_id} ${res.status}\n`);
            process.exitCode = await waitForJob(client, res, opts);
            return;
          }
          if (!opts.json) process.stdout.write(`${res.job_id} ${res.status}\n`);
        }
        if (opts.json) printJson(results.length === 1 ? results[0] : results);
      });
    });
}
