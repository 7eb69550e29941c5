import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, changedKeys, loadConfigFile, validateConfig } from '../../src/conductor/config.js';

describe('config', () => {
  it('fills defaults and keeps valid values', () => {
    expect(validateConfig({})).toEqual(DEFAULT_CONFIG);
    expect(validateConfig({ max_concurrent_jobs: 2 }).max_concurrent_jobs).toBe(2);
  });

  it('names the key of every problem', () => {
    expect(() => validateConfig({ max_concurent_jobs: 2 })).toThrow(/unknown key "max_concurent_jobs"/);
    expect(() => validateConfig({ max_concurrent_jobs: 0 })).toThrow(/"max_concurrent_jobs" must be between 1 and 256/);
    expect(() => validateConfig({ max_concurrent_jobs: 1.5 })).toThrow(/must be an integer/);
    expect(() => validateConfig({ max_log_bytes_per_job: 1000 })).toThrow(/"max_log_bytes_per_job" must be between 1048576 and/);
    expect(validateConfig({}).max_log_bytes_per_job).toBe(1024 * 1024 * 1024);
    expect(() => validateConfig({ kill_grace_seconds: '5' })).toThrow(/"kill_grace_seconds" must be a number/);
    expect(() => validateConfig({ log_level: 'loud' })).toThrow(/"log_level" must be one of/);
    expect(() => validateConfig([])).toThrow(ConfigError);
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
    expect(message).toMatch(/"dashboard_token" must be a string of empty or 16 to 512 characters, got 7 characters/);
    expect(message).not.toContain('hunter2');
  });

  it('dashboard_auth: "token" by default; "none" only on loopback and without a token, and the error names the keys', () => {
    expect(DEFAULT_CONFIG.dashboard_auth).toBe('token');
    expect(validateConfig({ dashboard_auth: 'none' }).dashboard_auth).toBe('none');
    expect(() => validateConfig({ dashboard_auth: 'off' })).toThrow(/"dashboard_auth" must be one of token, none, got "off"/);
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
