/**
 * SIGHUP (or a test) re-reads config.json and applies what changed to the running parts. A
 * bad file is rejected and the running config kept; dashboard keys count as applied only once
 * the dashboard runs with them; keys read only at start (live_restore) keep the value in force
 * and are listed as waiting for a restart.
 */
import { ConfigError, DASHBOARD_KEYS, RESTART_KEYS, changedKeys, loadConfigFile, type ConductorConfig } from '../config.js';
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
  // Compared with the values in force, so a key set back to its start value is no longer pending.
  const restartChanged = changedKeys(c.config, next).filter((k) => (RESTART_KEYS as readonly string[]).includes(k));
  c.pendingRestart = restartChanged;
  if (restartChanged.length > 0) {
    const values = restartChanged.map((k) => `${k} ${JSON.stringify(c.config[k as keyof ConductorConfig])} → ${JSON.stringify(next[k as keyof ConductorConfig])}`);
    log(`config reload: ${values.join(', ')} not applied: read at start only, takes effect at the next restart`, 'warn');
  }
  // From here `next` is what applies now: the file, except the keys read at start.
  next = { ...next, ...pickKeys(c.config, RESTART_KEYS) };
  let changed = changedKeys(c.config, next);
  const previous = c.config;
  c.config = { ...next, ...pickKeys(previous, DASHBOARD_KEYS) };
  configureLog(next);
  c.monitoring?.applyConfig(c.config);
  c.jobs.updateConfig(jobLimits(next));
  const dashboardChanged = changed.filter((k) => (DASHBOARD_KEYS as readonly string[]).includes(k));
  if (dashboardChanged.length > 0 && !c.shuttingDown) {
    const error = await restartDashboard(c, next, previous);
    if (error === undefined) {
      c.config = { ...c.config, ...pickKeys(next, DASHBOARD_KEYS) };
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

function pickKeys(config: ConductorConfig, keys: ReadonlyArray<keyof ConductorConfig>): Partial<ConductorConfig> {
  return Object.fromEntries(keys.map((k) => [k, config[k]]));
}
