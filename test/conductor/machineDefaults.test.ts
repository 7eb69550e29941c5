/**
 * Default resource limits from the machine: processes max(512, 64 per core) capped at half
 * the user's process limit, memory 75% of the machine's; and they are what the config uses.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CONFIG, validateConfig } from '../../src/conductor/config.js';
import { machineDefaults, readNprocLimit, thisMachine } from '../../src/conductor/machineDefaults.js';

describe('machine defaults', () => {
  it('processes: at least 512, 64 per core above 8 cores, at most half the user process limit', () => {
    expect(machineDefaults({ cores: 2, total_memory_mb: 4096, nproc_limit: null }).max_processes).toBe(512);
    expect(machineDefaults({ cores: 8, total_memory_mb: 4096, nproc_limit: null }).max_processes).toBe(512);
    expect(machineDefaults({ cores: 9, total_memory_mb: 4096, nproc_limit: null }).max_processes).toBe(576);
    expect(machineDefaults({ cores: 64, total_memory_mb: 4096, nproc_limit: null }).max_processes).toBe(4096);
    expect(machineDefaults({ cores: 64, total_memory_mb: 4096, nproc_limit: 2000 }).max_processes).toBe(1000);
    expect(machineDefaults({ cores: 2, total_memory_mb: 4096, nproc_limit: 100_000 }).max_processes).toBe(512);
  });

  it('memory: 75% of the machine', () => {
    expect(machineDefaults({ cores: 2, total_memory_mb: 16384, nproc_limit: null }).max_memory_mb).toBe(12288);
    expect(machineDefaults({ cores: 2, total_memory_mb: 1000.4, nproc_limit: null }).max_memory_mb).toBe(750);
  });

  it('reads the soft process limit; unlimited or unreadable is null', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-limits-'));
    const file = path.join(dir, 'limits');
    fs.writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax processes             4096                 8192                 processes\n');
    expect(readNprocLimit(file)).toBe(4096);
    fs.writeFileSync(file, 'Max processes             unlimited            unlimited            processes\n');
    expect(readNprocLimit(file)).toBeNull();
    expect(readNprocLimit(path.join(dir, 'missing'))).toBeNull();
    fs.rmSync(dir, { recursive: true });
  });

  it('the config defaults are this machine\'s, and stay configurable', () => {
    expect(DEFAULT_CONFIG).toMatchObject(machineDefaults(thisMachine()));
    expect(DEFAULT_CONFIG.max_processes).toBeGreaterThanOrEqual(Math.min(512, Math.floor((readNprocLimit() ?? Infinity) / 2)));
    expect(validateConfig({ max_processes: 50, max_memory_mb: 8192 })).toMatchObject({ max_processes: 50, max_memory_mb: 8192 });
    expect(() => validateConfig({ shed_pause_grace_seconds: -1 })).toThrow(/"shed_pause_grace_seconds" must be at least 0, got -1/);
    expect(() => validateConfig({ shed_pause_grace_seconds: 86401 })).toThrow(/"shed_pause_grace_seconds" must be at most 86400, got 86401/);
    expect(validateConfig({ shed_pause_grace_seconds: 0 }).shed_pause_grace_seconds).toBe(0);
    expect(DEFAULT_CONFIG.shed_pause_grace_seconds).toBe(30);
  });
});
