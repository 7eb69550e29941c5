/**
 * The dashboard runs in the conductor process as a client of its own socket (one bridge
 * connection). A port already in use must not stop the conductor: it runs without one.
 */
import type { DashboardServer } from '../../dashboard/server.js';
import type { LogFn } from '../../log/logger.js';
import type { ConductorPaths } from '../../shared/paths.js';
import type { ConductorConfig } from '../config.js';
import type { ConductorParts } from './conductorParts.js';

export async function startDashboard(
  config: ConductorConfig,
  paths: ConductorPaths,
  log: LogFn,
): Promise<{ dashboard?: DashboardServer; error?: string }> {
  try {
    // Loaded only when enabled: a conductor without a dashboard does not carry its modules.
    const { DashboardServer } = await import('../../dashboard/server.js');
    const dashboard = new DashboardServer({
      home: paths.home,
      socketPath: paths.socketPath,
      host: config.dashboard_host,
      port: config.dashboard_port,
      token: config.dashboard_token || process.env.MZT_DASHBOARD_TOKEN || undefined,
      auth: config.dashboard_auth,
      tokenFile: paths.dashboardTokenFile,
      log,
    });
    try {
      await dashboard.start();
    } catch (err) {
      await dashboard.stop().catch(() => undefined);
      throw err;
    }
    return { dashboard };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `${config.dashboard_host}:${config.dashboard_port} is in use` : (err as Error).message;
    log(`dashboard not started: ${why} (set dashboard_port in config.json, 0 for any free port, or dashboard_enabled: false)`, 'warn');
    return { error: why };
  }
}

/** Stops the running dashboard, logging (not throwing) a failure: stopping goes on regardless. */
export async function stopDashboard(c: ConductorParts): Promise<void> {
  await c.dashboard?.stop().catch((err: Error) => c.log(`dashboard stop failed: ${err.message}`, 'warn'));
}

/** Stops the dashboard and starts it with `next`; on failure brings back `previous` and says why. */
export async function restartDashboard(c: ConductorParts, next: ConductorConfig, previous: ConductorConfig): Promise<string | undefined> {
  await stopDashboard(c);
  c.dashboard = undefined;
  if (!next.dashboard_enabled) {
    c.log('dashboard stopped (dashboard_enabled is false)');
    return undefined;
  }
  const started = await startDashboard(next, c.paths, c.log);
  c.dashboard = started.dashboard;
  if (c.dashboard || !previous.dashboard_enabled) return started.error;
  c.dashboard = (await startDashboard(previous, c.paths, c.log)).dashboard;
  return started.error;
}
