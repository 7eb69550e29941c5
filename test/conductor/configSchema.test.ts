/**
 * protocol/schemas/config.json is the one description of config.json: README's table lists
 * exactly its keys with the same defaults, and a standard validator (ajv) reaches the
 * conductor's verdict on config files, so the published schema can be trusted by other tools.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, DEFAULT_CONFIG, validateConfig, type ConductorConfig } from '../../src/conductor/config.js';
import { resolveRef } from '../../src/ipc/schema.js';
import { ajvErrors } from '../helpers/standardSchemas.js';

/** README's configuration table: `key` → its Default cell. */
function readmeTable(): Map<string, string> {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| Key | Default | Meaning |');
  expect(start, 'README has the config table').toBeGreaterThan(0);
  const rows = new Map<string, string>();
  for (const line of readme.slice(start).split('\n').slice(2)) {
    const m = /^\| `([a-z_]+)` \| ([^|]*) \|/.exec(line);
    if (!m) break;
    rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

describe('config.json schema', () => {
  it('has exactly the keys of README\'s config table', () => {
    const readme = [...readmeTable().keys()];
    expect(readme.length).toBeGreaterThan(15);
    expect(readme.sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('has exactly the keys of the ConductorConfig type', () => {
    // The compiler checks this literal has every key of the type and no other; the test
    // checks config.json has the same, so a key added to one place only fails here.
    const typed: Record<keyof ConductorConfig, null> = {
      max_concurrent_jobs: null,
      kill_grace_seconds: null,
      default_sheet_timeout_seconds: null,
      events_retention_days: null,
      log_level: null,
      log_format: null,
      max_memory_mb: null,
      max_processes: null,
      warn_percent: null,
      hard_percent: null,
      shed_pause_grace_seconds: null,
      monitor_interval_seconds: null,
      profiler_interval_seconds: null,
      profiler_budget_percent: null,
      dashboard_enabled: null,
      dashboard_host: null,
      dashboard_port: null,
      dashboard_token: null,
      dashboard_auth: null,
      max_log_bytes_per_job: null,
      live_restore: null,
      fleet: null,
    };
    expect([...CONFIG_KEYS].sort()).toEqual(Object.keys(typed).sort());
  });

  it('gives the same defaults as README (machine-derived ones have none in the schema)', () => {
    for (const [key, cell] of readmeTable()) {
      const schemaDefault = resolveRef(`config.json#/properties/${key}`).default;
      if (key === 'max_memory_mb' || key === 'max_processes') {
        expect(schemaDefault, key).toBeUndefined();
        continue;
      }
      // README writes strings in backticks (`info`, `""`), numbers plain, optionally annotated.
      const shown = typeof schemaDefault === 'string' ? (schemaDefault === '' ? '`""`' : `\`${schemaDefault}\``) : String(schemaDefault);
      const asWritten = schemaDefault === null ? '`null`' : shown;
      expect(cell.split(' ')[0], key).toBe(asWritten);
      expect(DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG], key).toEqual(schemaDefault);
    }
  });

  it('gives every key a type and a description', () => {
    for (const key of CONFIG_KEYS) {
      const s = resolveRef(`config.json#/properties/${key}`);
      expect(s.description, key).toBeTruthy();
      expect(s.type ?? s.oneOf, key).toBeDefined();
    }
  });

  it('is read the same by ajv and by the conductor', () => {
    const cases: Array<[unknown, boolean]> = [
      [{}, true],
      [{ max_concurrent_jobs: 4, log_level: 'debug', dashboard_port: 0 }, true],
      [{ dashboard_token: '' }, true],
      [{ dashboard_token: 'x'.repeat(16) }, true],
      [{ dashboard_token: 'short' }, false],
      [{ max_concurrent_jobs: 0 }, false],
      [{ max_concurrent_jobs: 2.5 }, false],
      [{ max_concurent_jobs: 2 }, false],
      [{ monitor_interval_seconds: 0.01 }, false],
      [{ fleet: null }, true],
      [{ fleet: { nats_url: 'nats://127.0.0.1:4222', host: 'a', credentials: null } }, true],
      [{ fleet: { host: 'a' } }, false],
      [{ fleet: { nats_url: 'nats://x:1', extra: 1 } }, false],
    ];
    for (const [raw, accepted] of cases) {
      const conductor = (() => {
        try {
          validateConfig(raw);
          return true;
        } catch {
          return false;
        }
      })();
      expect(conductor, `${JSON.stringify(raw)} (conductor)`).toBe(accepted);
      expect(ajvErrors('config.json#', raw) === null, `${JSON.stringify(raw)} (ajv)`).toBe(accepted);
    }
  });
});
