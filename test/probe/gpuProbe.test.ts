// There is no GPU on this machine: every test runs a fake `nvidia-smi` shell script placed
// first on the PATH of the probe's subprocess.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpuProbe, NVIDIA_SMI_APPS_ARGS, NVIDIA_SMI_ARGS, parseComputeApps, parseNvidiaSmiCsv } from '../../src/probe/gpuProbe.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'probe-gpu-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a fake nvidia-smi with the given shell body; returns the env whose PATH finds it first. */
function fakeNvidiaSmi(body: string): NodeJS.ProcessEnv {
  const script = join(dir, 'nvidia-smi');
  writeFileSync(script, `#!/bin/sh\necho "$@" >> "${dir}/calls"\n${body}\n`);
  chmodSync(script, 0o755);
  return { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
}

function probeWith(env: NodeJS.ProcessEnv, clock = { now: 1_000_000 }) {
  const logs: string[] = [];
  const probe = new GpuProbe({ env, log: (m) => logs.push(m), now: () => clock.now, retryAfterMs: 60_000, timeoutMs: 2000 });
  return { probe, logs, clock };
}

describe('parseNvidiaSmiCsv', () => {
  it('parses metrics, keeps commas in names, maps [N/A] to null, skips junk lines', () => {
    const gpus = parseNvidiaSmiCsv('0, NVIDIA A100, 37, 1024, 40960, 51\n1, Tesla, rev 2, [N/A], 10, 16384, [Not Supported]\nwarning: something\n\n');
    expect(gpus).toEqual([
      { index: 0, name: 'NVIDIA A100', utilization_pct: 37, memory_used_mb: 1024, memory_total_mb: 40960, temperature_c: 51 },
      { index: 1, name: 'Tesla, rev 2', utilization_pct: null, memory_used_mb: 10, memory_total_mb: 16384, temperature_c: null },
    ]);
  });
});

describe('GpuProbe', () => {
  it('reports the GPUs printed by nvidia-smi, called with the documented query', async () => {
    const { probe, logs } = probeWith(fakeNvidiaSmi(`echo "0, Fake GPU, 55, 2048, 8192, 64"\necho "1, Fake GPU, 0, 0, 8192, 30"`));
    const gpus = await probe.query();
    expect(gpus.map((g) => [g.index, g.utilization_pct, g.memory_used_mb, g.memory_total_mb, g.temperature_c])).toEqual([
      [0, 55, 2048, 8192, 64],
      [1, 0, 0, 8192, 30],
    ]);
    expect(logs).toEqual([]);
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim()).toBe(NVIDIA_SMI_ARGS.join(' '));
  });

  it('absent from PATH: no GPUs, one log line, no retry until the back-off has passed', async () => {
    const { probe, logs, clock } = probeWith({ ...process.env, PATH: dir });
    expect(await probe.query()).toEqual([]);
    expect(await probe.query()).toEqual([]);
    clock.now += 61_000;
    expect(await probe.query()).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/not found on PATH/);
    expect(probe.failing).toBe(true);
  });

  it('a failing nvidia-smi is no GPUs and is not re-run on every call; recovery is logged', async () => {
    const env = fakeNvidiaSmi('echo "NVIDIA-SMI has failed" >&2; exit 9');
    const { probe, logs, clock } = probeWith(env);
    expect(await probe.query()).toEqual([]);
    expect(await probe.query()).toEqual([]);
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/failed/);

    fakeNvidiaSmi('echo "0, Back, 1, 2, 3, 4"');
    clock.now += 60_000;
    expect(await probe.query()).toHaveLength(1);
    expect(logs[1]).toMatch(/works again/);
    expect(probe.failing).toBe(false);
  });

  it('garbage output is a failure, not a GPU with zeros', async () => {
    const { probe, logs } = probeWith(fakeNvidiaSmi('echo "this is not csv"'));
    expect(await probe.query()).toEqual([]);
    expect(logs[0]).toMatch(/unparseable output/);
  });

  it('a hanging nvidia-smi is killed at the timeout', async () => {
    const env = fakeNvidiaSmi('exec sleep 30');
    const logs: string[] = [];
    const probe = new GpuProbe({ env, log: (m) => logs.push(m), timeoutMs: 200 });
    expect(await probe.query()).toEqual([]);
    expect(logs[0]).toMatch(/timed out after 200 ms/);
  });
});

describe('GPU memory per process', () => {
  it('parses compute apps, summing a process on two GPUs, skipping unknown amounts', () => {
    const apps = parseComputeApps('1234, 512\n1234, 256\n99, [N/A]\nNo running processes found\n42, 1024\n');
    expect([...apps]).toEqual([
      [1234, 768],
      [42, 1024],
    ]);
  });

  it('asks nvidia-smi for compute apps; a failing query means "unknown", logged once', async () => {
    const { probe, logs } = probeWith(
      fakeNvidiaSmi(`case "$1" in --query-compute-apps*) echo "777, 300";; *) echo "0, Fake GPU, 5, 300, 8192, 40";; esac`),
    );
    expect(await probe.queryProcesses()).toEqual(new Map([[777, 300]]));
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim()).toBe(NVIDIA_SMI_APPS_ARGS.join(' '));
    const broken = probeWith(fakeNvidiaSmi('echo "unknown option" >&2; exit 2'));
    expect(await broken.probe.queryProcesses()).toEqual(new Map());
    expect(await broken.probe.queryProcesses()).toEqual(new Map());
    expect(broken.logs.filter((l) => l.includes('per-process query failed'))).toHaveLength(1);
  });
});
