/**
 * The conductor's configuration: a JSON file at `$MZT_HOME/config.json` (optional; every
 * value has a default), described by protocol/schemas/config.json. Unknown keys and
 * out-of-range values are errors that name the key,
 * so a typo is never silently ignored. SIGHUP re-reads the file; a bad file is rejected and
 * the running config kept.
 */
import fs from 'node:fs';
import { MIN_DASHBOARD_TOKEN_LENGTH, isLoopbackAddress } from '../dashboard/auth.js';
import { parseFleetConfig, type FleetConfig } from '../fleet/config.js';
import { resolveRef, validateValue } from '../ipc/schema.js';
import { machineDefaults } from './machineDefaults.js';

export interface ConductorConfig {
  /** Jobs running at once; more wait in a FIFO queue. */
  max_concurrent_jobs: number;
  /** Seconds between SIGTERM and SIGKILL when a sheet is cancelled or times out. */
  kill_grace_seconds: number;
  /** Timeout of a sheet that does not set its own. */
  default_sheet_timeout_seconds: number;
  /** Events older than this are deleted (except those of jobs still active). */
  events_retention_days: number;
  log_level: 'debug' | 'info' | 'warn' | 'error';
  /** Log lines as text or JSON lines; `mzt conductor start --log-format` overrides it. */
  log_format: 'text' | 'json';
  /** Memory limit for the conductor AND everything it runs (sum of RSS); default 75% of the machine's memory. */
  max_memory_mb: number;
  /** Limit on the conductor's descendant processes; default max(512, 64 per core), at most half the user's process limit. */
  max_processes: number;
  /** Percent of a limit above which new jobs are refused. */
  warn_percent: number;
  /** Percent of a limit at which the job contributing most is paused, then cancelled after the grace. */
  hard_percent: number;
  /** Seconds a job the resource monitor paused may stay over a limit before it is cancelled. */
  shed_pause_grace_seconds: number;
  /** Seconds between resource checks. */
  monitor_interval_seconds: number;
  /** Seconds between process-tree samples (snapshots). */
  profiler_interval_seconds: number;
  /** Most of one core, in percent, that sampling may take before its interval widens. */
  profiler_budget_percent: number;
  /** Serve the web dashboard from the conductor process. */
  dashboard_enabled: boolean;
  /** Address the dashboard binds; anything but loopback requires a token. */
  dashboard_host: string;
  /** 0 picks a free port. */
  dashboard_port: number;
  /** Token for dashboard requests ("" = generated and kept in $MZT_HOME/run/dashboard.token). */
  dashboard_token: string;
  /** "token" (every request needs the token) or "none": an explicit opt-out, loopback only. */
  dashboard_auth: 'token' | 'none';
  /** Most bytes a job's log keeps on disk: its first half and its latest output. */
  max_log_bytes_per_job: number;
  /**
   * Sheets run under a small waiter and outlive the conductor: a restart or crash re-adopts
   * them (actors/liveRestore/). Read at start; needs perl.
   */
  live_restore: boolean;
  /** The fleet's NATS server and this host's name in it; null: no fleet. */
  fleet: FleetConfig | null;
}

export { MIN_DASHBOARD_TOKEN_LENGTH };

/**
 * The keys, types, bounds and defaults live in protocol/schemas/config.json (published, so
 * other tools can check a config file) and are checked by the same validator as method
 * params (src/ipc/schema.ts). What a schema cannot say is checked below (crossKeyChecks).
 */
const SCHEMA = resolveRef('config.json#');
const PROPERTIES = SCHEMA.properties ?? {};

/** Every config key, in config.json's order. */
export const CONFIG_KEYS = Object.keys(PROPERTIES) as Array<keyof ConductorConfig>;

/** Keys the running dashboard is built from: a reload that changes one restarts it. */
export const DASHBOARD_KEYS: ReadonlyArray<keyof ConductorConfig> = ['dashboard_enabled', 'dashboard_host', 'dashboard_port', 'dashboard_token', 'dashboard_auth'];

/** Keys read only at start: a reload keeps the value in force and reports the new one as waiting for a restart. */
export const RESTART_KEYS: ReadonlyArray<keyof ConductorConfig> = ['live_restore'];

/** Config.json's `default`s, with max_memory_mb and max_processes from the machine (machineDefaults.ts). */
function defaults(): ConductorConfig {
  const out: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) out[key] = structuredClone(PROPERTIES[key]!.default);
  Object.assign(out, machineDefaults());
  const missing = CONFIG_KEYS.filter((k) => out[k] === undefined);
  if (missing.length) throw new Error(`protocol/schemas/config.json: no default for ${missing.join(', ')}`);
  return out as unknown as ConductorConfig;
}

export const DEFAULT_CONFIG: ConductorConfig = defaults();

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validate a parsed object; returns the full config with defaults filled in. */
export function validateConfig(raw: unknown, source = 'config'): ConductorConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  const r = validateValue(SCHEMA, raw, source);
  if (!r.ok) throw new ConfigError(unknownKeyHint(r.field, r.message, source));
  const out = { ...DEFAULT_CONFIG, ...(r.value as Partial<ConductorConfig>) };
  crossKeyChecks(out, source);
  return out;
}

/** A typo'd key: say "key" as the README does, and list the keys that exist at that level. */
function unknownKeyHint(field: string, message: string, source: string): string {
  if (message !== `${source}: unknown field "${field}"`) return message;
  const parent = field.includes('.') ? PROPERTIES[field.slice(0, field.indexOf('.'))]?.properties : PROPERTIES;
  return `${source}: unknown key "${field}" (known: ${Object.keys(parent ?? {}).join(', ')})`;
}

/** The rules between keys, and within a value, that a JSON Schema does not express. */
function crossKeyChecks(out: ConductorConfig, source: string): void {
  if (out.hard_percent <= out.warn_percent) {
    throw new ConfigError(`${source}: "hard_percent" (${out.hard_percent}) must be above "warn_percent" (${out.warn_percent})`);
  }
  if (out.dashboard_auth === 'none') {
    if (out.dashboard_token !== '') throw new ConfigError(`${source}: "dashboard_token" is set but "dashboard_auth" is "none": remove one of them`);
    if (!isLoopbackAddress(out.dashboard_host)) {
      throw new ConfigError(`${source}: "dashboard_auth": "none" is allowed only on a loopback "dashboard_host", got ${JSON.stringify(out.dashboard_host)}`);
    }
  }
  // The fleet's own parser checks each server of nats_url and fills the host from the machine.
  try {
    out.fleet = parseFleetConfig(out.fleet, source);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** Read and validate the file; a missing file means all defaults. */
export function loadConfigFile(file: string): ConductorConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_CONFIG };
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  return validateConfig(parsed, file);
}

/** Keys whose value differs between two configs. */
export function changedKeys(a: ConductorConfig, b: ConductorConfig): string[] {
  // Nested values (fleet) compare by content.
  return CONFIG_KEYS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
