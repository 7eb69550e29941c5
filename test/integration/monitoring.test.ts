/**
 * The conductor watching its jobs, end to end with real processes: snapshots tag every
 * process with its job and sheet, memory counts the whole tree, and pressure drives the
 * warn event, backpressure, and the hard-limit shedding (pause, then cancel after the grace;
 * whom it blames is tested in shedding.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/ipc/messages.js';
import { collectUntil } from '../helpers/collect.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({
  config: {
    max_memory_mb: 400, // warn at 320 MB, hard limit at 380 MB (conductor included)
    profiler_interval_seconds: 0.2,
    // These tests need that cadence (a 1 s sheet must be sampled); on a loaded machine the
    // profiler would widen its interval over budget, and keep it wide for good.
    profiler_budget_percent: 100,
    monitor_interval_seconds: 0.2,
    kill_grace_seconds: 1,
    shed_pause_grace_seconds: 1,
  },
});

describe('monitoring', () => {
  it('tags processes by job and sheet, with cpu, rss and zombies', async () => {
    const { job_id } = await fixture.client.call('job.submit', {
      sheets: [
        { argv: ['sleep', '0.5'] }, // sheet 2 then starts after the profiler's first samples
        // a busy loop, a sleeping child, and a zombie (the inner sleep is never reaped by exec'ed sleep)
        { argv: ['sh', '-c', 'sh -c "sleep 0.1 & exec sleep 30" & while :; do :; done'] },
      ],
    });
    const snapshot = await waitFor(async () => {
      const s = await fixture.client.call('monitor.snapshot', {}).catch(() => undefined); // none until the first sample
      if (!s) return undefined;
      const busy = s.processes.find((p: any) => p.job_id === job_id && p.command.includes('while'));
      return busy && busy.cpu_percent !== null && busy.cpu_percent > 30 && s.zombie_count > 0 ? s : undefined;
    }, 15_000, 'a snapshot with the busy sheet and its zombie');
    const mine = snapshot.processes.filter((p: any) => p.job_id === job_id);
    expect(mine.length).toBeGreaterThanOrEqual(2); // the loop and the exec'ed sleep
    for (const p of mine) expect(p.sheet_num).toBe(2);
    expect(mine.every((p: any) => p.rss_mb > 0)).toBe(true);
    expect(snapshot.processes.find((p: any) => p.pid === fixture.conductor.pid).job_id).toBeNull();
    expect(snapshot.running_jobs).toBe(1);
    expect(snapshot.job_progress.find((j: any) => j.job_id === job_id)).toMatchObject({ total_sheets: 2, current_sheet: 2, last_completed_sheet: 1 });
    expect(snapshot.conductor.sample_cost_ms).toBeGreaterThan(0);
    // Descendants seen by the profiler are recorded with the job's tag; the zombie is an anomaly.
    const recorded = await waitFor(async () => {
      const { events } = await fixture.client.call('events.read', { since: 0, limit: 1000, types: ['process.spawn', 'monitor.anomaly'] });
      const observed = events.find((e) => e.type === 'process.spawn' && e.job_id === job_id && e.data.observed === true);
      const zombie = events.find((e) => e.type === 'monitor.anomaly' && e.data.anomaly_type === 'zombie');
      return observed && zombie ? { observed, zombie } : undefined;
    }, 10_000, 'observed spawn and zombie anomaly events');
    expect(recorded.observed.sheet_num).toBe(2);
    await fixture.client.call('job.cancel', { job_id });
  });

  it('streams snapshots to subscribers who ask for them', async () => {
    const sub = fixture.client.subscribe({ include_snapshots: true, types: ['none.'] });
    const [snap] = await collectUntil(sub, (e) => e.type === 'monitor.snapshot');
    expect(snap!.seq).toBeUndefined();
    expect(snap!.data.daemon_pid).toBe(fixture.conductor.pid);
    await sub.unsubscribe();
  });

  it('warns, refuses work, then pauses the job to blame at the hard limit and cancels it after the grace', async () => {
    const { head_seq } = await fixture.client.call('events.read', { limit: 1 });
    const events = fixture.client.subscribe({ since: head_seq, types: ['monitor.', 'job.cancelled'] });
    // ~270 MB now, ~120 MB more three seconds later.
    const { job_id } = await fixture.client.call('job.submit', {
      name: 'hog',
      sheets: [{ argv: ['python3', '-c', "import time\na=b'x'*(270*2**20)\ntime.sleep(3)\nb=b'y'*(120*2**20)\ntime.sleep(60)"] }],
    });
    const [high] = (await collectUntil(events, (e) => e.type === 'monitor.pressure_changed' && e.data.level === 'high', 20_000)).slice(-1);
    expect(high!.data.memory_percent).toBeGreaterThanOrEqual(80);

    const refused = await fixture.client.call('job.submit', { sheets: [{ argv: ['true'] }] }).catch((e) => e);
    expect(refused.code).toBe(ErrorCode.NOT_ACCEPTING_WORK);
    expect(refused.message).toMatch(/not accepting work: pressure high/);
    const health = await fixture.client.call('daemon.health', {});
    expect(health.ready).toBe(false);

    const rest = await collectUntil(events, (e) => e.type === 'job.cancelled', 30_000);
    const cancelled = rest.at(-1)!;
    expect(cancelled.job_id).toBe(job_id);
    expect(cancelled.data.by).toBe('resource_monitor');
    expect(String(cancelled.data.reason)).toMatch(/paused [\d.]+ s ago for memory; still at the hard limit/);
    // Blamed for memory (the largest RSS, the only job), paused first, cancelled after the grace.
    const shed = rest.filter((e) => e.type === 'monitor.limit_exceeded');
    expect(shed.map((e) => e.data.action)).toEqual(['paused', 'cancelled']);
    expect(shed[0]).toMatchObject({ job_id, data: { measure: 'memory', job_id } });
    expect(shed[0]!.data.share).toBeGreaterThan(0.7); // the hog's RSS of the whole tree's (conductor included)
    expect(shed[0]!.data.reason).toMatch(/^largest RSS: [\d.]+ MB of [\d.]+ MB/);
    expect(shed[1]!.ts - shed[0]!.ts).toBeGreaterThanOrEqual(0.95); // the grace (1 s), less the few ms between the pause and its event
    await waitFor(async () => (await fixture.client.call('daemon.health', {})).ready, 20_000, 'readiness to come back');
    await events.unsubscribe();
  });
});

describe('history, ledger and resource report', () => {
  it('keeps snapshots, per-minute history, JSONL lines and a per-job cost ledger with real CPU', async () => {
    const { spawnSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { CLI } = await import('../helpers/conductorProcess.js');
    // Sheet 1 burns CPU in short-lived children (each exits between samples); sheet 2 holds memory.
    const { job_id, seq } = await fixture.client.call('job.submit', {
      name: 'costly',
      sheets: [
        { argv: ['sh', '-c', 'for i in 1 2 3 4 5 6; do python3 -c "x=0\nfor i in range(1500000): x+=i"; done'] },
        { argv: ['python3', '-c', "import time\na=b'x'*(60*2**20)\ntime.sleep(1)"] },
      ],
    });
    const ended = await collectUntil(fixture.client.subscribe({ since: seq - 1, job_id, types: ['job.'] }), (e) => e.type === 'job.completed' || e.type === 'job.failed', 60_000);
    // The report is final once a sample taken after the end has gone through every sink (its
    // processes' exits recorded): the next sample being stored shows that. A fixed sleep did
    // not, with the interval widened under load.
    const endTs = ended.at(-1)!.ts;
    await waitFor(async () => (await fixture.client.call('monitor.history', { since: endTs, limit: 10 })).snapshots.length >= 2, 30_000, 'two samples after the end');
    const report = await fixture.client.call('monitor.resource_report', { job_id });
    expect(report.available).toBe(true);
    expect(report.total_cpu_seconds).toBeGreaterThan(0.3);
    expect(report.sheet_metrics['1'].cpu_seconds).toBeGreaterThan(0.3);
    expect(report.sheet_metrics['2'].peak_rss_mb).toBeGreaterThan(55);
    expect(report.text_report).toMatch(/Resource Profile for job 'costly-/);
    expect(report.text_report).toMatch(/Sheet 2: peak RSS \d+\.\d MB/);
    const text = spawnSync(process.execPath, [CLI, 'diagnose', job_id, '--resources'], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stdout).toBe(report.text_report);

    const full = await fixture.client.call('monitor.history', { since: 0, limit: 10_000 });
    expect(full.snapshots.length).toBeGreaterThan(5);
    expect(full.snapshots[0].job_progress).toBeDefined();
    const minutes = await fixture.client.call('monitor.history', { since: 0, resolution: 'minute' });
    expect(minutes.minutes.reduce((n: number, m: any) => n + m.samples, 0)).toBeGreaterThanOrEqual(full.snapshots.length);
    const lines = fs.readFileSync(path.join(fixture.home, 'monitor.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    expect(JSON.parse(lines.at(-1)!).daemon_pid).toBe(fixture.conductor.pid);
    const own = await fixture.client.call('monitor.process_history', { pid: fixture.conductor.pid, since: 0 });
    expect(own.samples.length).toBeGreaterThan(5);
  });
});

describe('mzt top --json --once', () => {
  it('prints a snapshot that validates against protocol/schemas/snapshot.json', async () => {
    const { spawnSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const { validateValue } = await import('../../src/ipc/schema.js');
    const { CLI } = await import('../helpers/conductorProcess.js');
    const r = spawnSync(process.execPath, [CLI, 'top', '--json', '--once'], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const schema = JSON.parse(fs.readFileSync(new URL('../../protocol/schemas/snapshot.json', import.meta.url), 'utf8')).snapshot;
    const checked = validateValue(schema, JSON.parse(lines[0]!));
    expect(checked.ok, JSON.stringify(checked).slice(0, 300)).toBe(true);
    // and the schema is not a rubber stamp
    expect(validateValue(schema, { ...JSON.parse(lines[0]!), pressure_level: 'HIGH' }).ok).toBe(false);
  });
});
