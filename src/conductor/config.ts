/**
 * The conductor's configuration: a JSON file at `$MZT_HOME/config.json` (optional; every
 * value has a default). Unknown keys and out-of-range values are errors that name the key,
 * so a typo is never silently ignored. SIGHUP re-reads the file; a bad file is rejected and
 * the running config kept.
 */
import fs from 'node:fs';
import { MIN_DASHBOARD_TOKEN_LENGTH, isLoopbackAddress } from '../dashboard/auth.js';
import { parseFleetConfig, type FleetConfig } from '../fleet/config.js';
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

interface NumberRule {
  kind: 'number';
  min: number;
  max: number;
  integer?: boolean;
}
interface EnumRule {
  kind: 'enum';
  values: readonly string[];
}
interface BooleanRule {
  kind: 'boolean';
}
interface StringRule {
  kind: 'string';
  maxLength: number;
  /** A non-empty value must be at least this long ("" stays allowed: unset). */
  minLength?: number;
  /** Never echo the value in an error (a secret). */
  secret?: boolean;
}

/** A nested value with its own validator (which throws an Error naming the key). */
interface CustomRule {
  kind: 'custom';
  parse(value: unknown, source: string): unknown;
}

export { MIN_DASHBOARD_TOKEN_LENGTH };
type Rule = NumberRule | EnumRule | BooleanRule | StringRule | CustomRule;

const RULES: Record<keyof ConductorConfig, Rule> = {
  max_concurrent_jobs: { kind: 'number', min: 1, max: 256, integer: true },
  kill_grace_seconds: { kind: 'number', min: 0, max: 600 },
  default_sheet_timeout_seconds: { kind: 'number', min: 1, max: 30 * 86400 },
  events_retention_days: { kind: 'number', min: 1, max: 3650 },
  log_level: { kind: 'enum', values: ['debug', 'info', 'warn', 'error'] },
  log_format: { kind: 'enum', values: ['text', 'json'] },
  max_memory_mb: { kind: 'number', min: 1, max: 10_000_000 },
  max_processes: { kind: 'number', min: 1, max: 1_000_000, integer: true },
  warn_percent: { kind: 'number', min: 1, max: 100 },
  hard_percent: { kind: 'number', min: 1, max: 1000 },
  shed_pause_grace_seconds: { kind: 'number', min: 0, max: 86400 },
  monitor_interval_seconds: { kind: 'number', min: 0.05, max: 3600 },
  profiler_interval_seconds: { kind: 'number', min: 0.05, max: 3600 },
  profiler_budget_percent: { kind: 'number', min: 0.1, max: 100 },
  dashboard_enabled: { kind: 'boolean' },
  dashboard_host: { kind: 'string', maxLength: 255 },
  dashboard_port: { kind: 'number', min: 0, max: 65535, integer: true },
  dashboard_token: { kind: 'string', maxLength: 512, minLength: MIN_DASHBOARD_TOKEN_LENGTH, secret: true },
  dashboard_auth: { kind: 'enum', values: ['token', 'none'] },
  max_log_bytes_per_job: { kind: 'number', min: 1024 * 1024, max: 2 ** 40, integer: true },
  live_restore: { kind: 'boolean' },
  fleet: { kind: 'custom', parse: parseFleetConfig },
};

/** Keys the running dashboard is built from: a reload that changes one restarts it. */
export const DASHBOARD_KEYS: ReadonlyArray<keyof ConductorConfig> = ['dashboard_enabled', 'dashboard_host', 'dashboard_port', 'dashboard_token', 'dashboard_auth'];

// max_memory_mb and max_processes come from the machine (machineDefaults.ts).
export const DEFAULT_CONFIG: ConductorConfig = {
  max_concurrent_jobs: 15,
  kill_grace_seconds: 5,
  default_sheet_timeout_seconds: 86400,
  events_retention_days: 30,
  log_level: 'info',
  log_format: 'text',
  ...machineDefaults(),
  warn_percent: 80,
  hard_percent: 95,
  shed_pause_grace_seconds: 30,
  monitor_interval_seconds: 5,
  profiler_interval_seconds: 1,
  profiler_budget_percent: 5,
  dashboard_enabled: true,
  dashboard_host: '127.0.0.1',
  dashboard_port: 8787,
  dashboard_token: '',
  dashboard_auth: 'token',
  max_log_bytes_per_job: 1024 * 1024 * 1024,
  live_restore: false,
  fleet: null,
};

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
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!Object.hasOwn(RULES, key)) {
      throw new ConfigError(`${source}: unknown key "${key}" (known: ${Object.keys(RULES).join(', ')})`);
    }
    const rule = RULES[key as keyof ConductorConfig];
    if (rule.kind === 'custom') {
      try {
        out[key] = rule.parse(value, source);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
      continue;
    }
    if (rule.kind === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ConfigError(`${source}: "${key}" must be a number, got ${JSON.stringify(value)}`);
      }
      if (rule.integer && !Number.isInteger(value)) {
        throw new ConfigError(`${source}: "${key}" must be an integer, got ${value}`);
      }
      if (value < rule.min || value > rule.max) {
        throw new ConfigError(`${source}: "${key}" must be between ${rule.min} and ${rule.max}, got ${value}`);
      }
    } else if (rule.kind === 'boolean') {
      if (typeof value !== 'boolean') throw new ConfigError(`${source}: "${key}" must be true or false, got ${JSON.stringify(value)}`);
    } else if (rule.kind === 'string') {
      const tooShort = typeof value === 'string' && value !== '' && rule.minLength !== undefined && value.length < rule.minLength;
      if (typeof value !== 'string' || value.length > rule.maxLength || tooShort) {
        const length = rule.minLength !== undefined ? `empty or ${rule.minLength} to ${rule.maxLength}` : `at most ${rule.maxLength}`;
        const got = rule.secret && typeof value === 'string' ? `${value.length} characters` : JSON.stringify(value);
        throw new ConfigError(`${source}: "${key}" must be a string of ${length} characters, got ${got}`);
      }
    } else if (typeof value !== 'string' || !rule.values.includes(value)) {
      throw new ConfigError(`${source}: "${key}" must be one of ${rule.values.join(', ')}, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  if ((out.hard_percent as number) <= (out.warn_percent as number)) {
    throw new ConfigError(`${source}: "hard_percent" (${out.hard_percent}) must be above "warn_percent" (${out.warn_percent})`);
  }
  if (out.dashboard_auth === 'none') {
    if (out.dashboard_token !== '') throw new ConfigError(`${source}: "dashboard_token" is set but "dashboard_auth" is "none": remove one of them`);
    if (!isLoopbackAddress(out.dashboard_host as string)) {
      throw new ConfigError(`${source}: "dashboard_auth": "none" is allowed only on a loopback "dashboard_host", got ${JSON.stringify(out.dashboard_host)}`);
    }
  }
  return out as unknown as ConductorConfig;
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
  return (Object.keys(RULES) as Array<keyof ConductorConfig>).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
