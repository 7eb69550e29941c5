/**
 * `mzt dashboard` prints the login URL of the dashboard the conductor serves;
 * `mzt dashboard serve` runs one on its own, as a client of the conductor's socket.
 */
import { Option, type Command } from 'commander';
import { DEFAULT_CONFIG } from '../conductor/config.js';
import { parseInteger, UsageError } from './args.js';
import type { WithClient } from './conductorClient.js';

export function addDashboardCommands(program: Command, withClient: WithClient): void {
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
}
