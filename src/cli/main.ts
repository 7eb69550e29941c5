#!/usr/bin/env node
/**
 * `mzt`: the conductor's command line. Every client command talks to the conductor over
 * its socket; when nobody answers it says so in one line (with the socket path and how to
 * start it) and exits 3.
 */
// First: a foreground `conductor start` catches SIGHUP before the rest is even loaded.
import './earlySignals.js';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { DaemonClient, type StreamItem } from '../ipc/client.js';
import { ConductorNotRunning, RpcError, TimeoutError } from '../ipc/clientErrors.js';
import { DEFAULT_CONFIG } from '../conductor/config.js';
import { conductorPaths, resolveHome } from '../shared/paths.js';
import { probeHello } from '../ipc/helloProbe.js';
import { jobRow, printJob } from './jobView.js';
import { duration, localTime, printJson, table } from './output.js';
import { TOP_KEYS, runTop, type TopSort } from './top.js';
import { startDetached } from './detach.js';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, StderrRotation } from '../log/rotation.js';
import type { LogFormat } from '../log/logger.js';
import { addJobControlCommands } from './jobControl.js';
import { collect, parseInteger, parseNumber, UsageError } from './args.js';
import { addSubmitCommand } from './submit.js';
import { addClearCommand } from './clear.js';
import { addFleetCommands, fleetLine } from './fleet.js';
import { followLog } from './follow.js';
import { addConductorRestart } from './conductorRestart.js';
import { addTraceCommand, formatTrace, type TraceView } from './trace.js';

const EXIT_NOT_RUNNING = 3;

function paths() {
  return conductorPaths(resolveHome());
}

/** Connect and hello timeout; MZT_CONNECT_TIMEOUT_MS overrides it (tests keep it short). */
function connectTimeoutMs(): number {
  const n = Number(process.env.MZT_CONNECT_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
}

async function connect(opts: { reconnect?: boolean } = {}): Promise<DaemonClient> {
  return DaemonClient.connect({ socketPath: paths().socketPath, timeoutMs: connectTimeoutMs(), reconnect: opts.reconnect ?? false, clientName: 'mzt-cli' });
}

/** Run a client command with one connection, closed afterwards. */
async function withClient<T>(fn: (client: DaemonClient) => Promise<T>, opts: { reconnect?: boolean } = {}): Promise<T> {
  const client = await connect(opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function buildProgram(): Command {
  const program = new Command('mzt')
    .description('mzt conductor: run jobs, watch what they cost, stream every event')
    .showHelpAfterError()
    .exitOverride();

  // --- conductor start|stop|status -------------------------------------------------------
  const conductor = program.command('conductor').description('start, stop or inspect the conductor');

  conductor
    .command('start')
    .description('start the conductor in the foreground (or in the background with --detach)')
    .option('--detach', 'run in the background, logging to $MZT_HOME/conductor.log')
    .option('--home <dir>', 'data directory (default: $MZT_HOME or ~/.mzt)')
    .addOption(new Option('--timeout <seconds>', 'with --detach: how long to wait for it to be ready').default(15).argParser(parseNumber('--timeout')))
    .addOption(new Option('--log-format <format>', 'log lines as text or JSON lines (default: config log_format, text)').choices(['text', 'json']))
    .addOption(
      new Option('--log-max-bytes <bytes>', `rotate the log when it reaches this size (--detach: default ${DEFAULT_LOG_MAX_BYTES}; in the foreground stderr must be a file opened for append)`).argParser(
        parseInteger('--log-max-bytes'),
      ),
    )
    .addOption(new Option('--log-keep <n>', `rotated logs kept (conductor.log.1 newest; default ${DEFAULT_LOG_KEEP})`).argParser(parseInteger('--log-keep')))
    .action(async (opts: { detach?: boolean; home?: string; timeout: number; logFormat?: LogFormat; logMaxBytes?: number; logKeep?: number }) => {
      if (opts.home) process.env.MZT_HOME = opts.home;
      const p = paths();
      if (opts.detach) {
        const pid = await startDetached(p, fileURLToPath(import.meta.url), opts.timeout, { maxBytes: opts.logMaxBytes, keep: opts.logKeep, format: opts.logFormat });
        const status = await withClient((c) => c.call('daemon.status', {})).catch(() => undefined);
        process.stdout.write(
          `conductor started (pid ${pid}), socket ${p.socketPath}, log ${p.logFile}` +
            `${status?.dashboard_url ? `\ndashboard ${status.dashboard_url}` : ''}\n`,
        );
        return;
      }
      let rotation: StderrRotation | undefined;
      if (opts.logMaxBytes !== undefined || opts.logKeep !== undefined) {
        try {
          rotation = StderrRotation.open({ maxBytes: opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES, keep: opts.logKeep ?? DEFAULT_LOG_KEEP });
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      }
      const { runConductor } = await import('../conductor/main.js');
      const handle = await runConductor({ home: p.home, handleSignals: true, logFormat: opts.logFormat, rotation });
      await handle.stopped;
    });

  conductor
    .command('stop')
    .description('stop the conductor: gracefully over the socket, by signal if it does not answer')
    .option('--force', 'send SIGTERM (then SIGKILL) to the pid instead of asking')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for it to exit').default(30).argParser(parseNumber('--timeout')))
    .action(async (opts: { force?: boolean; timeout: number }) => {
      const p = paths();
      let pid: number | undefined;
      try {
        pid = Number(fs.readFileSync(p.pidFile, 'utf8').trim()) || undefined;
      } catch {
        /* no pid file */
      }
      const probe = await probeHello(p.socketPath, 2000);
      if (probe.alive) pid = (probe.hello.pid as number) ?? pid;
      if (!probe.alive && !pid) throw new ConductorNotRunning(p.socketPath);
      const alive = (n: number) => {
        try {
          process.kill(n, 0);
          return true;
        } catch {
          return false;
        }
      };
      if (probe.alive && !opts.force) {
        await withClient((c) => c.call('daemon.shutdown', { graceful: true }));
      } else if (pid && alive(pid)) {
        process.kill(pid, 'SIGTERM');
      }
      const deadline = Date.now() + opts.timeout * 1000;
      while (pid && alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGKILL');
        process.stdout.write(`conductor (pid ${pid}) did not stop within ${opts.timeout}s; sent SIGKILL\n`);
        return;
      }
      process.stdout.write(`conductor stopped${pid ? ` (pid ${pid})` : ''}\n`);
    });

  addConductorRestart(conductor, { paths, withClient: (fn) => withClient(fn), entry: fileURLToPath(import.meta.url) });

  conductor
    .command('status')
    .description('is the conductor running, and what is it doing')
    .option('--json', 'print daemon.status as JSON')
    .action(async (opts: { json?: boolean }) => {
      const status = await withClient((c) => c.call('daemon.status', {}));
      if (opts.json) return printJson(status);
      process.stdout.write(
        [
          `conductor ${status.server_version} running (pid ${status.pid}), up ${duration(status.uptime_seconds)}`,
          `jobs      ${status.running_jobs} running (${status.paused_jobs} paused), ${status.queued_jobs} queued, ${status.total_jobs} in all`,
          `events    head seq ${status.head_seq}; storage ${status.storage?.writable ? 'writable' : `NOT writable: ${status.storage?.last_error}`}`,
          `clients   ${status.connections} connection(s), ${status.subscriptions} subscription(s)`,
          `memory    ${status.memory_usage_mb} MB`,
          `socket    ${status.socket_path}`,
          `dashboard ${status.dashboard_url ?? 'not served (dashboard_enabled is false, or its port was taken: see the conductor log)'}`,
          ...(status.fleet ? [fleetLine(status.fleet)] : []),
        ].join('\n') + '\n',
      );
    });

  // --- jobs -------------------------------------------------------------------------------
  addSubmitCommand(program, (fn) => withClient(fn));
  addClearCommand(program, (fn) => withClient(fn));
  addFleetCommands(program);

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
    .command('cancel')
    .description('cancel a job (its whole process tree is stopped)')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const res = await withClient((c) => c.call('job.cancel', { job_id: id }, { timeoutMs: 120_000 }));
      if (opts.json) printJson(res);
      else process.stdout.write(`${res.job_id} ${res.status}\n`);
    });

  addJobControlCommands(program, withClient);
  addTraceCommand(program, withClient);

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

  const dashboardCmd = program
    .command('dashboard')
    .description("print the login URL of the conductor's dashboard (open it once; the browser then stays logged in by a cookie)")
    .action(async () => {
      const status = await withClient((c) => c.call('daemon.status', {}));
      if (!status.dashboard_url) {
        throw new Error('the conductor serves no dashboard (dashboard_enabled is false, or its port was taken: see the conductor log); `mzt dashboard serve` runs one on its own');
      }
      process.stdout.write(`${status.dashboard_url}\n`);
    });

  dashboardCmd
    .command('serve')
    .description('serve the web dashboard on its own (the conductor serves one itself unless dashboard_enabled is false)')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .addOption(new Option('--port <port>', 'port (0: any free port)').default(DEFAULT_CONFIG.dashboard_port).argParser(parseInteger('--port')))
    .option('--token <token>', 'require this token (other accounts see argv in ps: prefer $MZT_DASHBOARD_TOKEN; default: that, else the one in $MZT_HOME/run/dashboard.token, created if missing)')
    .action(async (opts: { host: string; port: number; token?: string }) => {
      const { DashboardServer } = await import('../dashboard/server.js');
      // Same line format as the conductor's log, levels named (info level: no config to read here).
      const { Logger } = await import('../log/logger.js');
      const log = new Logger({ name: 'mzt-dashboard' }).log;
      const dashboard = new DashboardServer({
        host: opts.host,
        port: opts.port,
        token: opts.token || process.env.MZT_DASHBOARD_TOKEN || undefined,
        log,
      });
      try {
        await dashboard.start();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new UsageError(`${opts.host}:${opts.port} is in use (the conductor may already serve the dashboard there: mzt dashboard); pick another with --port`);
        }
        throw err;
      }
      process.stdout.write(`dashboard: ${dashboard.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void dashboard.stop().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
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

  // --- raw access ------------------------------------------------------------------------
  program
    .command('call')
    .description('call any socket method; prints the result as JSON')
    .argument('<method>')
    .argument('[params]', 'params as a JSON object', '{}')
    .action(async (method: string, rawParams: string) => {
      let params: unknown;
      try {
        params = JSON.parse(rawParams);
      } catch (err) {
        throw new UsageError(`params are not valid JSON: ${(err as Error).message}`);
      }
      const result = await withClient((c) => c.call(method, params as Record<string, unknown>, { timeoutMs: 120_000 }));
      printJson(result);
    });

  program
    .command('subscribe')
    .description('stream events as NDJSON (one JSON object per line); markers go to stderr')
    .addOption(new Option('--since <seq>', 'replay from after this seq first').argParser(parseInteger('--since')))
    .option('--job <id>', 'only events of this job')
    .option('--type <prefix>', 'only event types starting with this (repeatable)', collect, [])
    .option('--snapshots', 'include monitor snapshots')
    .action(async (opts: { since?: number; job?: string; type: string[]; snapshots?: boolean }) => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
      });
      const client = await connect({ reconnect: true });
      const stop = () => {
        void client.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const sub = client.subscribe({
        ...(opts.since !== undefined ? { since: opts.since } : {}),
        ...(opts.job ? { job_id: opts.job } : {}),
        ...(opts.type.length ? { types: opts.type } : {}),
        ...(opts.snapshots ? { include_snapshots: true } : {}),
      });
      for await (const item of sub as AsyncIterable<StreamItem>) {
        if (item.kind === 'event') process.stdout.write(`${JSON.stringify(item.event)}\n`);
        else process.stderr.write(`${JSON.stringify({ marker: item.kind, ...item, kind: undefined })}\n`);
      }
    });

  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
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

void main();
