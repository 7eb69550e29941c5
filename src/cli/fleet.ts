/**
 * `mzt fleet ...`: the fleet read from NATS alone — it works from a machine with no conductor.
 * The NATS address comes from --nats, else MZT_NATS_URL, else this machine's config.json.
 */
import { Command } from 'commander';
import { loadConfigFile } from '../conductor/config.js';
import type { FleetClient } from '../fleet/client.js';
import { cliPaths } from './conductorClient.js';
import os from 'node:os';
import { generateJobId } from '../events/jobIds.js';
import { HOST_NAME } from '../fleet/config.js';
import { validateParams } from '../ipc/schema.js';
import { parseInteger, UsageError } from './args.js';
import { addJobSpecOptions, specsFromOptions, type SubmitOptions } from './submit.js';
import { duration, localTime, printJson, table } from './output.js';
import { describeFleetCancel, FLEET_CANCEL_TIMEOUT_SECONDS } from './fleetCancel.js';

interface NatsOptions {
  nats?: string;
}

function natsTarget(opts: NatsOptions): { url: string; credentials: string | null } {
  if (opts.nats) return { url: opts.nats, credentials: null };
  if (process.env.MZT_NATS_URL) return { url: process.env.MZT_NATS_URL, credentials: null };
  const fleet = loadConfigFile(cliPaths().configFile).fleet;
  if (!fleet) throw new UsageError('no NATS server to ask: pass --nats nats://HOST:PORT, set MZT_NATS_URL, or set fleet.nats_url in config.json');
  return { url: fleet.nats_url, credentials: fleet.credentials };
}

async function withReader<T>(opts: NatsOptions, fn: (reader: FleetClient) => Promise<T>): Promise<T> {
  const target = natsTarget(opts);
  // Loaded only here: the NATS client is not part of every mzt command's start-up.
  const { FleetClient } = await import('../fleet/client.js');
  const reader = await FleetClient.connect(target.url, { credentials: target.credentials });
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

/** `mzt fleet submit --wait`: queue one job, then follow it on the host that takes it. */
async function submitAndWait(
  client: FleetClient,
  job: Parameters<FleetClient['submit']>[0],
  opts: SubmitOptions & { host?: string; claimTimeout?: number },
): Promise<number> {
  // Read before the submit: the job's events can only come after this seq.
  const head = await client.eventsHead();
  if (head === undefined) throw new Error('the fleet has no event stream yet (no conductor has exported to this NATS server), so --wait has nothing to follow');
  const queued = await client.submit(job, { host: opts.host, from: `mzt@${os.hostname()}` });
  if (queued.duplicate) throw new Error(`job ${job.job_id} was queued before (the same id within the queue's duplicate window); --wait follows only a job it queues: use another --id`);
  if (!opts.json) (opts.quiet ? process.stdout : process.stderr).write(`${job.job_id} queued on ${queued.queue}\n`);
  const { waitForFleetJob } = await import('./fleetWait.js');
  return waitForFleetJob(client, job.job_id, head, { quiet: opts.quiet, json: opts.json, claimTimeoutSeconds: opts.claimTimeout ?? 60 });
}

export function addFleetCommands(program: Command): void {
  const fleet = program.command('fleet').description('the fleet of conductors sharing a NATS server (read from NATS alone)');
  const natsOption = ['--nats <url>', 'the fleet NATS server (default: MZT_NATS_URL, then config.json fleet.nats_url)'] as const;

  fleet
    .command('status')
    .description('every live host: its load, capacity, pressure and export')
    .option(...natsOption)
    .option('--json', 'print JSON')
    .action(async (opts: NatsOptions & { json?: boolean }) => {
      const hosts = await withReader(opts, (r) => r.hosts());
      if (opts.json) return printJson(hosts.map(({ jobs: _jobs, ...h }) => h));
      if (hosts.length === 0) return void process.stdout.write('no live hosts in the fleet\n');
      process.stdout.write(
        `${table(
          ['HOST', 'VERSION', 'RUNNING', 'QUEUED', 'PAUSED', 'SLOTS', 'PRESSURE', 'WORK', 'EXPORTED', 'SEEN', 'UP'],
          hosts.map((h) => [
            h.host,
            h.version,
            String(h.running_jobs),
            String(h.queued_jobs),
            String(h.paused_jobs),
            String(h.max_concurrent_jobs),
            h.pressure_level,
            h.accepting_work ? 'accepting' : 'refusing',
            String(h.export.exported_seq),
            `${h.age_seconds}s ago`,
            duration(Date.now() / 1000 - h.started_at),
          ]),
        )}\n`,
      );
    });

  addJobSpecOptions(
    fleet
      .command('submit')
      .description("put jobs on the fleet's work queue: a conductor with room takes each (same options as mzt submit)"),
  )
    .option('--host <host>', 'only this host may take it')
    .option(...natsOption)
    .option('--wait', "like mzt submit --wait: stream the job's output from the host that takes it and exit with its exit code (128+signal if killed); Ctrl-C cancels the job wherever it runs (as mzt fleet cancel) and waits for its end; Ctrl-C again stops waiting")
    .option('--quiet', 'with --wait: print status lines instead of the output')
    .option('--claim-timeout <seconds>', 'with --wait: give up when no host has taken the job within this time (default 60)', parseInteger('--claim-timeout'))
    .option('--json', 'print the result as JSON (with --wait: the ended job\'s record and its host)')
    .action(async (argv: string[], opts: SubmitOptions & NatsOptions & { host?: string; claimTimeout?: number }) => {
      if (opts.host !== undefined && !HOST_NAME.test(opts.host)) throw new UsageError(`--host must be a fleet host name (letters, digits, '-', '_'), got "${opts.host}"`);
      if ((opts.quiet || opts.claimTimeout !== undefined) && !opts.wait) throw new UsageError('--quiet and --claim-timeout go with --wait');
      if (opts.claimTimeout !== undefined && opts.claimTimeout < 1) throw new UsageError('--claim-timeout must be 1 second or more');
      const explicitCwd = opts.cwd !== undefined;
      const jobs = (await specsFromOptions(argv, opts)).map((spec) => {
        // The job runs on another machine: a working directory is sent only when one was given.
        const { cwd, ...rest } = spec;
        const job = { ...rest, ...(explicitCwd || opts.file !== undefined ? (cwd !== undefined ? { cwd } : {}) : {}), job_id: spec.job_id ?? generateJobId(spec.name) };
        const checked = validateParams('job.submit', job);
        if (!checked.ok) throw new UsageError(checked.message);
        return job;
      });
      if (opts.wait) {
        if (jobs.length > 1) throw new UsageError(`--wait follows one job; ${opts.file} has ${jobs.length}`);
        process.exitCode = await withReader(opts, (client) => submitAndWait(client, jobs[0]!, opts));
        return;
      }
      const results = await withReader(opts, async (client) => {
        if (opts.host && !(await client.hosts()).some((h) => h.host === opts.host)) {
          process.stderr.write(`mzt: no live conductor is named "${opts.host}" now; the job waits in the queue until one joins\n`);
        }
        const out = [];
        for (const job of jobs) out.push(await client.submit(job, { host: opts.host, from: `mzt@${os.hostname()}` }));
        return out;
      });
      if (opts.json) return printJson(results.length === 1 ? results[0] : results);
      for (const r of results) process.stdout.write(`${r.job_id} queued on ${r.queue}${r.duplicate ? ' (already queued: the same id was submitted before)' : ''}\n`);
    });

  fleet
    .command('jobs')
    .description("each host's recent jobs (the newest 50 per host)")
    .option(...natsOption)
    .option('--host <host>', 'only this host')
    .option('--json', 'print JSON')
    .action(async (opts: NatsOptions & { host?: string; json?: boolean }) => {
      const hosts = (await withReader(opts, (r) => r.hosts())).filter((h) => !opts.host || h.host === opts.host);
      const jobs = hosts.flatMap((h) => h.jobs.map((j) => ({ host: h.host, ...j }))).sort((a, b) => b.submitted_at - a.submitted_at);
      if (opts.json) return printJson(jobs);
      if (jobs.length === 0) return void process.stdout.write('no jobs in the fleet\n');
      process.stdout.write(`${table(['HOST', 'JOB', 'STATUS', 'SUBMITTED', 'NAME'], jobs.map((j) => [j.host, j.job_id, j.status, localTime(j.submitted_at), j.name]))}\n`);
    });

  fleet
    .command('logs')
    .description('a job\'s output, fetched from the conductor that ran it (asked over NATS)')
    .argument('<id>', 'job id')
    .option(...natsOption)
    .option('--host <host>', 'ask this host (default: the one whose recent jobs list it, else every live host)')
    .option('--tail <n>', 'the last n lines (default 100)', parseInteger('--tail'))
    .option('--all', 'the whole log, from its start')
    .action(async (id: string, opts: NatsOptions & { host?: string; tail?: number; all?: boolean }) => {
      await withReader(opts, async (client) => {
        if (!opts.all) {
          const page = await client.logs({ job_id: id, tail_lines: opts.tail ?? 100 }, opts.host);
          for (const line of page.lines) process.stdout.write(`${line}\n`);
          if (page.truncated) process.stderr.write('mzt: earlier lines left out (the answer is bounded); use --all\n');
          return;
        }
        // Page by page, each answer bounded, until the log's end.
        let offset = 0;
        for (;;) {
          const page = await client.logs({ job_id: id, offset }, opts.host);
          opts.host = page.host;
          for (const line of page.lines) process.stdout.write(`${line}\n`);
          if (page.next_offset <= offset || page.next_offset >= page.size) return;
          offset = page.next_offset;
        }
      });
    });

  fleet
    .command('cancel')
    .description('cancel a job wherever in the fleet it runs: the host that has it cancels it as mzt cancel does (asked over NATS)')
    .argument('<id>', 'job id')
    .option(...natsOption)
    .option('--host <host>', 'ask this host only (default: the one whose recent jobs list it or that took it from the queue, else every live host)')
    .option('--timeout <seconds>', `how long a host may take to answer, the cancel included (default ${FLEET_CANCEL_TIMEOUT_SECONDS})`, parseInteger('--timeout'))
    .option('--json', 'print the outcome as JSON')
    .action(async (id: string, opts: NatsOptions & { host?: string; timeout?: number; json?: boolean }) => {
      if (opts.host !== undefined && !HOST_NAME.test(opts.host)) throw new UsageError(`--host must be a fleet host name (letters, digits, '-', '_'), got "${opts.host}"`);
      if (opts.timeout !== undefined && opts.timeout < 1) throw new UsageError('--timeout must be 1 second or more');
      const result = await withReader(opts, (client) =>
        client.cancel({ job_id: id, reason: `cancelled by mzt fleet cancel from ${os.hostname()}` }, { host: opts.host, timeoutMs: (opts.timeout ?? FLEET_CANCEL_TIMEOUT_SECONDS) * 1000 }),
      );
      const { line, code } = describeFleetCancel(result);
      if (opts.json) printJson(result);
      else (code === 0 ? process.stdout : process.stderr).write(code === 0 ? `${line}\n` : `mzt: ${line}\n`);
      process.exitCode = code;
    });

  fleet
    .command('subscribe')
    .description('the fleet event stream as NDJSON (one {stream_seq, host, ...event} per line)')
    .option(...natsOption)
    .option('--host <host>', 'only this host')
    .option('--job <id>', 'only this job')
    .option('--since <streamSeq>', 'from this stream seq (1: from the beginning); default: new events only', parseInteger('--since'))
    .option('--no-follow', 'stop at the end of what the stream holds now')
    .action(async (opts: NatsOptions & { host?: string; job?: string; since?: number; follow: boolean }) => {
      if (opts.since !== undefined && opts.since < 1) throw new UsageError('--since must be a stream seq of 1 or more');
      if (!opts.follow && opts.since === undefined) opts.since = 1;
      await withReader(opts, async (reader) => {
        const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        const events = reader.events({ host: opts.host, since: opts.since, follow: opts.follow });
        const pump = (async () => {
          for await (const { stream_seq, host, event } of events) {
            if (opts.job && event.job_id !== opts.job) continue;
            if (!process.stdout.write(`${JSON.stringify({ stream_seq, host, ...event })}\n`)) {
              await new Promise((r) => process.stdout.once('drain', r));
            }
          }
        })();
        await Promise.race([pump, stop]);
        await events.return(undefined);
      });
    });
}
