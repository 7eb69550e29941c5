/**
 * GPU memory per process and per job, with a real conductor. There is no GPU on these
 * machines: a fake `nvidia-smi` first on the conductor's PATH reports one GPU and, as compute
 * apps, every `sleep` process holding 640 MB — only the conductor's own descendants count.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({
  client: { reconnect: false },
  // A fake nvidia-smi first on the conductor's PATH.
  prepare: (home) => {
    const bin = path.join(home, 'fake-bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, 'nvidia-smi'),
      `#!/bin/sh
# Takes a while, as the real one does (no child process: a shell loop).
i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done
case "$1" in
  --query-compute-apps*) for p in $(pgrep -x sleep); do echo "$p, 640"; done ;;
  *) echo "0, Fake GPU, 40, 640, 16384, 55" ;;
esac
`,
    );
    fs.chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
    return { env: { PATH: `${bin}:${process.env.PATH}` } };
  },
  config: { profiler_interval_seconds: 0.2 },
});

describe('GPU memory', () => {
  it('is shown per process in snapshots and kept as a peak in the job ledger', async () => {
    const { job_id } = await fixture.client.call('job.submit', { name: 'gpu', sheets: [{ argv: ['sh', '-c', 'sleep 1.5; echo done'] }] });
    const snap = await waitFor(async () => {
      const s = await fixture.client.call('monitor.snapshot', {}).catch(() => ({ processes: [] })); // none before the first sample
      return s.processes.some((p: any) => p.job_id === job_id && p.command === 'sleep 1.5') ? s : undefined;
    }, 10_000, 'the sleep in a snapshot');
    const sleep = snap.processes.find((p: any) => p.job_id === job_id && p.command === 'sleep 1.5');
    expect(sleep.gpu_memory_mb).toBe(640);
    const shell = snap.processes.find((p: any) => p.job_id === job_id && p.command.startsWith('sh -c'));
    expect(shell.gpu_memory_mb).toBeUndefined(); // holds no VRAM: absent, not 0
    expect(snap.gpus).toHaveLength(1);
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'completed', 10_000, 'completed');
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.gpu_memory_peak_mb).toBe(640);
    expect(report.text_report).toContain('Peak GPU memory: 640.0 MB');
  });

  it("does not record the probe's own nvidia-smi runs as observed processes", async () => {
    // Sampled at 5 Hz for the tests above: each sample runs the fake nvidia-smi, while /proc is read.
    const { events } = await fixture.client.call('events.read', { since: 0, limit: 1000, types: ['process.spawn', 'process.exit'] });
    const observed = events.filter((e) => e.data.observed === true);
    expect(observed.length).toBeGreaterThan(0); // the job's sleeps were
    expect(observed.filter((e) => String(e.data.command ?? '').includes('nvidia-smi'))).toEqual([]);
    const spawnedPids = new Set(observed.filter((e) => e.type === 'process.spawn').map((e) => e.data.pid));
    expect(observed.filter((e) => e.type === 'process.exit' && !spawnedPids.has(e.data.pid))).toEqual([]);
  });

  it('is null for a job that never touched a GPU', async () => {
    const { job_id } = await fixture.client.call('job.submit', { sheets: [{ argv: [process.execPath, '-e', 'setTimeout(() => {}, 1200)'] }] });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id })).status === 'completed', 15_000, 'completed');
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.available).toBe(true); // it was sampled: null means "no GPU", not "no data"
    expect(report.gpu_memory_peak_mb).toBeNull();
  });
});
