/**
 * A sheet's main process is reported by the job manager (with its exit code), never as an
 * "observed" descendant. One that exits while the profiler is sampling is in that sample's
 * process list but no longer among the running sheets when the sample is published: it was
 * recorded as an observed process.spawn, then process.exit, after its job had ended, and the
 * job's resource report changed after the job was over.
 */
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const ctx = useConductor({
  client: false,
  config: {
    dashboard_enabled: false,
    // Samples often and never widens: sampling covers much of the time, so sheets end mid-sample.
    profiler_interval_seconds: 0.05,
    profiler_budget_percent: 100,
    max_concurrent_jobs: 2,
    max_processes: 1000,
  },
});

describe('sheet leaders in the profiler', () => {
  it('are never recorded as observed spawns or exits, and nothing of a job is recorded after its end', async () => {
    const client = await DaemonClient.connect({ socketPath: ctx.conductor.socketPath });
    try {
      // 150 sleeping processes make each sample take tens of milliseconds.
      const bg = await client.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'for i in $(seq 150); do sleep 60 & done; wait'] }] });
      await waitFor(async () => ((await client.call('monitor.snapshot', {}).catch(() => undefined))?.processes.length ?? 0) > 150, 20_000, 'the 150 sleepers in a sample');
      // Then short jobs one after another (one slot left), ending at every point of a sample.
      const ids: string[] = [];
      for (let i = 0; i < 80; i++) {
        ids.push((await client.call('job.submit', { sheets: [{ argv: ['sleep', String(0.02 + (i % 7) * 0.007)] }] })).job_id);
      }
      await waitFor(async () => (await client.call('job.get', { job_id: ids.at(-1)! })).status === 'completed', 60_000, 'the last short job');
      await new Promise((r) => setTimeout(r, 1000)); // samples after the last end
      await client.call('job.cancel', { job_id: bg.job_id });

      const wrong: string[] = [];
      for (const id of ids) {
        const job = await client.call('job.get', { job_id: id });
        const leaders = new Set(job.sheets.map((s) => s.pid));
        const { events } = await client.call('events.read', { since: 0, limit: 1000, job_id: id });
        const end = events.find((e) => e.type === 'job.completed')!;
        for (const e of events) {
          const observedLeader = e.type.startsWith('process.') && e.data.observed === true && leaders.has(e.data.pid as number);
          if (observedLeader || e.seq > end.seq) wrong.push(`${id}: ${e.type} ${JSON.stringify(e.data)}${e.seq > end.seq ? ' after the job ended' : ''}`);
        }
      }
      expect(wrong.join('\n')).toBe('');
    } finally {
      await client.close();
    }
  }, 120_000);
});
