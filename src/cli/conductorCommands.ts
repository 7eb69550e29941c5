/**
 * `mzt conductor start|stop|restart|status`: run the conductor (in the foreground, or
 * detached), stop it (over the socket, by signal if it does not answer), and report on it.
 */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { ConductorNotRunning } from '../ipc/clientErrors.js';
import { probeHello } from '../ipc/helloProbe.js';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, StderrRotation } from '../log/rotation.js';
import type { LogFormat } from '../log/logger.js';
import { parseInteger, parseNumber, UsageError } from './args.js';
import { addConductorRestart } from './conductorRestart.js';
import { cliPaths, withClient } from './conductorClient.js';
import { startDetached } from './detach.js';
import { duration, printJson } from './output.js';
import { processAlive, waitForExit } from './pids.js';

/** `entry`: the CLI's entry file, which a detached conductor runs. */
export function addConductorCommands(program: Command, entry: string): void {
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
      const p = cliPaths();
      if (opts.detach) {
        const pid = await startDetached(p, entry, opts.timeout, { maxBytes: opts.logMaxBytes, keep: opts.logKeep, format: opts.logFormat });
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
      const p = cliPaths();
      let pid: number | undefined;
      try {
        pid = Number(fs.readFileSync(p.pidFile, 'utf8').trim()) || undefined;
      } catch {
        /* no pid file */
      }
      const probe = await probeHello(p.socketPath, 2000);
      if (probe.alive) pid = (probe.hello.pid as number) ?? pid;
      if (!probe.alive && !pid) throw new ConductorNotRunning(p.socketPath);
      if (probe.alive && !opts.force) {
        await withClient((c) => c.call('daemon.shutdown', { graceful: true }));
      } else if (pid && processAlive(pid)) {
        process.kill(pid, 'SIGTERM');
      }
      if (pid && !(await waitForExit(pid, opts.timeout * 1000, 100))) {
        process.kill(pid, 'SIGKILL');
        process.stdout.write(`conductor (pid ${pid}) did not stop within ${opts.timeout}s; sent SIGKILL\n`);
        return;
      }
      process.stdout.write(`conductor stopped${pid ? ` (pid ${pid})` : ''}\n`);
    });

  addConductorRestart(conductor, entry);

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
          `jobs      ${status.running_jobs} running (${status.paused_jobs} paused), ${status.queued_jobs} queued, ${status.pending_jobs} waiting to restart, ${status.total_jobs} in all`,
          `events    head seq ${status.head_seq}; storage ${status.storage?.writable ? 'writable' : `NOT writable: ${status.storage?.last_error}`}`,
          `clients   ${status.connections} connection(s), ${status.subscriptions} subscription(s)`,
          `memory    ${status.memory_usage_mb} MB`,
          `socket    ${status.socket_path}`,
          `dashboard ${status.dashboard_url ?? 'not served (dashboard_enabled is false, or its port was taken: see the conductor log)'}`,
          ...(status.fleet ? [fleetLine(status.fleet)] : []),
        ].join('\n') + '\n',
      );
    });
}

/** `mzt conductor status`'s fleet line: the link and how far behind the export is. */
export function fleetLine(fleet: {
  host: string;
  nats_url: string;
  connected: boolean;
  export: { state: string; exported_seq: number; lag_events: number; lag_bytes: number; lag_bytes_capped: boolean; last_error: string | null };
}): string {
  const e = fleet.export;
  const lag = `${e.lag_events} event(s), ${e.lag_bytes_capped ? 'over ' : ''}${(e.lag_bytes / 1048576).toFixed(1)} MB behind`;
  return (
    `fleet     host ${fleet.host} on ${fleet.nats_url} (${fleet.connected ? 'connected' : 'NOT connected'}); export ${e.state}, ` +
    `exported to seq ${e.exported_seq}, ${lag}${e.last_error ? `; ${e.last_error}` : ''}`
  );
}
