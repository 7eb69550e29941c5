/**
 * SIGHUP (or a test) re-reads config.json and applies what changed to the running parts. A
 * bad file is rejected and the running config kept; dashboard keys count as applied only once
 * the dashboard runs with them; live_restore waits for the next start.
 */
import { ConfigError, DASHBOARD_KEYS, changedKeys, loadConfigFile, type ConductorConfig } from '../config.js';
import type { RunningConductor } from './conductorParts.js';
import { restartDashboard } from './dashboard.js';
import { startFleetFor, stopFleet } from './fleet.js';
import { jobLimits } from './jobs.js';

/** Returns `reloadConfig`: each call queues one reload behind the ones still running. */
export function configReloader(c: RunningConductor, configureLog: (config: ConductorConfig) => void): () => void {
  return () => {
    c.reloads = c.reloads.then(() => reloadOnce(c, configureLog)).catch((err: Error) => c.log(`config reload failed: ${err.stack ?? err}`, 'error'));
  };
}

async function reloadOnce(c: RunningConductor, configureLog: (config: ConductorConfig) => void): Promise<void> {
  const { store, log } = c;
  let next: ConductorConfig;
  try {
    next = loadConfigFile(c.paths.configFile);
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : String(err);
    log(`config reload rejected, keeping the running config: ${message}`, 'warn');
    void store.append({ type: 'config.reload_failed', data: { error: message } }).catch(() => undefined);
    return;
  }
  let changed = changedKeys(c.config, next);
  if (changed.includes('live_restore')) log('config reload: live_restore takes effect at the next start');
  const previous = c.config;
  c.config = { ...next, ...pickDashboard(previous) };
  configureLog(next);
  c.monitoring?.applyConfig(c.config);
  c.jobs.updateConfig(jobLimits(next));
  const dashboardChanged = changed.filter((k) => (DASHBOARD_KEYS as readonly string[]).includes(k));
  if (dashboardChanged.length > 0 && !c.shuttingDown) {
    const error = await restartDashboard(c, next, previous);
    if (error === undefined) {
      c.config = { ...c.config, ...pickDashboard(next) };
    } else {
      changed = changed.filter((k) => !dashboardChanged.includes(k));
      const message = `${dashboardChanged.join(', ')} not applied: ${error}; the dashboard keeps its previous settings`;
      log(`config reload: ${message}`, 'warn');
      void store.append({ type: 'config.reload_failed', data: { error: message, keys: dashboardChanged } }).catch(() => undefined);
    }
  }
  if (changed.includes('fleet') && !c.shuttingDown) {
    await stopFleet(c);
    c.fleet = startFleetFor(c, next);
  }
  log(`config reloaded (${changed.length ? changed.join(', ') : 'no changes'})`);
  void store.append({ type: 'config.reloaded', data: { changed } }).catch(() => undefined);
}

function pickDashboard(config: ConductorConfig): Partial<ConductorConfig> {
  return Object.fromEntries(DASHBOARD_KEYS.map((k) => [k, config[k]]));
}
