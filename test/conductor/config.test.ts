import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, MIN_DASHBOARD_TOKEN_LENGTH, changedKeys, loadConfigFile, validateConfig } from '../../src/conductor/config.js';
import { resolveRef } from '../../src/ipc/schema.js';

/** The message validateConfig throws, to compare whole. */
function problem(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('config', () => {
  it('fills defaults and keeps valid values', () => {
    expect(validateConfig({})).toEqual(DEFAULT_CONFIG);
    expect(validateConfig({ max_concurrent_jobs: 2 }).max_concurrent_jobs).toBe(2);
  });

  it('names the key of every problem', () => {
    expect(problem({ max_concurent_jobs: 2 })).toMatch(/^config: unknown key "max_concurent_jobs" \(known: max_concurrent_jobs, kill_grace_seconds, .*, fleet\)$/);
    expect(problem({ max_concurrent_jobs: 0 })).toBe('config: "max_concurrent_jobs" must be at least 1, got 0');
    expect(problem({ max_concurrent_jobs: 257 })).toBe('config: "max_concurrent_jobs" must be at most 256, got 257');
    expect(problem({ max_concurrent_jobs: 1.5 })).toBe('config: "max_concurrent_jobs" must be an integer, got 1.5');
    expect(problem({ max_log_bytes_per_job: 1000 })).toBe('config: "max_log_bytes_per_job" must be at least 1048576, got 1000');
    expect(validateConfig({}).max_log_bytes_per_job).toBe(1024 * 1024 * 1024);
    expect(problem({ kill_grace_seconds: '5' })).toBe('config: "kill_grace_seconds" must be a number, got string "5"');
    expect(problem({ log_level: 'loud' })).toBe('config: "log_level" must be one of "debug", "info", "warn", "error", got string "loud"');
    expect(problem({ dashboard_enabled: 'yes' })).toBe('config: "dashboard_enabled" must be true or false, got string "yes"');
    expect(problem([])).toBe('config: expected a JSON object');
  });

  it('wants a dashboard token of 16 characters or none, and never echoes it', () => {
    expect(validateConfig({ dashboard_token: '' }).dashboard_token).toBe('');
    expect(validateConfig({ dashboard_token: 'x'.repeat(16) }).dashboard_token).toBe('x'.repeat(16));
    let message = '';
    try {
      validateConfig({ dashboard_token: 'hunter2' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('config: "dashboard_token" must be empty (a token is generated) or 16 to 512 characters, got 7 characters');
    expect(message).not.toContain('hunter2');
    expect(problem({ dashboard_token: 'y'.repeat(513) })).toBe('config: "dashboard_token" must be empty (a token is generated) or 16 to 512 characters, got 513 characters');
    // config.json and the dashboard agree on the shortest token.
    const branches = resolveRef('config.json#/properties/dashboard_token').oneOf!;
    expect(branches[1]!.minLength).toBe(MIN_DASHBOARD_TOKEN_LENGTH);
  });

  it('dashboard_auth: "token" by default; "none" only on loopback and without a token, and the error names the keys', () => {
    expect(DEFAULT_CONFIG.dashboard_auth).toBe('token');
    expect(validateConfig({ dashboard_auth: 'none' }).dashboard_auth).toBe('none');
    expect(problem({ dashboard_auth: 'off' })).toBe('config: "dashboard_auth" must be one of "token", "none", got string "off"');
    expect(() => validateConfig({ dashboard_auth: 'none', dashboard_host: '0.0.0.0' })).toThrow(/"dashboard_auth": "none" is allowed only on a loopback "dashboard_host", got "0.0.0.0"/);
    let message = '';
    try {
      validateConfig({ dashboard_auth: 'none', dashboard_token: 'hunter2-hunter2-hunter2' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/"dashboard_token" is set but "dashboard_auth" is "none"/);
    expect(message).not.toContain('hunter2');
  });

  it('checks the fleet object by the schema, then its servers and host by the fleet parser', () => {
    expect(validateConfig({ fleet: null }).fleet).toBeNull();
    const fleet = validateConfig({ fleet: { nats_url: 'nats://127.0.0.1:4222', host: 'a' } }).fleet;
    expect(fleet).toEqual({ nats_url: 'nats://127.0.0.1:4222', host: 'a', credentials: null });
    expect(validateConfig({ fleet: { nats_url: 'nats://127.0.0.1:4222' } }).fleet!.host).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(problem({ fleet: {} })).toBe('config: "fleet.nats_url" is required');
    expect(problem({ fleet: 'nats://x:1' })).toBe('config: "fleet" must be a map, got string "nats://x:1"');
    expect(problem({ fleet: { nats_url: 'nats://x:1', hots: 'a' } })).toBe('config: unknown key "fleet.hots" (known: nats_url, host, credentials)');
    expect(problem({ fleet: { nats_url: 'nats://x:1', host: 'a b' } })).toBe('config: "fleet.host" must match ^[A-Za-z0-9_-]{1,64}$, got string "a b"');
    expect(problem({ fleet: { nats_url: 'http://x' } })).toBe('config: "fleet.nats_url" has "http://x": expected nats://host:port');
  });

  it('keeps the cross-key rule hard_percent > warn_percent', () => {
    expect(problem({ warn_percent: 90, hard_percent: 90 })).toBe('config: "hard_percent" (90) must be above "warn_percent" (90)');
    expect(validateConfig({ warn_percent: 90, hard_percent: 91 }).hard_percent).toBe(91);
  });

  it('reads a file; a missing file means defaults; a broken one is an error naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-config-'));
    try {
      const file = path.join(dir, 'config.json');
      expect(loadConfigFile(file)).toEqual(DEFAULT_CONFIG);
      fs.writeFileSync(file, '{"max_concurrent_jobs": 3');
      expect(() => loadConfigFile(file)).toThrow(new RegExp(`${file}: invalid JSON`));
      fs.writeFileSync(file, '{"max_concurrent_jobs": 3}');
      const cfg = loadConfigFile(file);
      expect(changedKeys(DEFAULT_CONFIG, cfg)).toEqual(['max_concurrent_jobs']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
