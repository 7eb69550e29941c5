/**
 * The resource monitor blaming the right job, against a real conductor (issue 14 §3,
 * issue 13 §1): under a low max_processes a fork-heavy OLD job is paused (its tree stopped,
 * seen in /proc) and then cancelled after the grace while an innocent NEW one-process job
 * completes; a job the monitor paused is resumed once pressure falls below warn, while one a
 * person paused stays paused; per-job limits pause then cancel that job alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { validateValue } from '../../src/ipc/schema.js';
import type { EventEnvelope } from '../../src/events/types.js';
import { collectUntil } from '../helpers/collect.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { readGroup } from '../helpers/procGroup.js';
import { sheetPid, untilJobsEnded } from '../helpers/jobs.js';

// Fast checks the profiler keeps on a loaded machine (budget 100%: it never widens).
const FAST = { profiler_interval_seconds: 0.2, profiler_budget_percent: 100, monitor_interval_seconds: 0.2, kill_grace_seconds: 1 };

/** Every event of these types recorded so far (from seq 0), checked against events.json. */
async function eventsOf(client: DaemonClient, types: string[]): Promise<EventEnvelope[]> {
  const { events } = await client.call('events.read', { since: 0, limit: 1000, types });
  for (const e of events) expect(validateValue(`events.json#/events/${e.type}/data`, e.data), `${e.type} ${JSON.stringify(e.data)}`).toMatchObject({ ok: true });
  return events;
}

describe('shedding at the conductor limit (grace 4 s)', () => {
  const c = useConductor({ config: { ...FAST, max_processes: 20, shed_pause_grace_seconds: 4 } });

  it('pauses, then cancels, the fork-heavy old job; the innocent new job completes', async () => {
    const client = c.client;
    const go = path.join(c.home, 'go');
    // 11 processes now (warn is at 16); 26 once the test says go.
    const forker = await client.call('job.submit', {
      name: 'forker',
      sheets: [{ argv: ['sh', '-c', `for i in $(seq 10); do sleep 300 & done; while [ ! -e ${go} ]; do sleep 0.1; done; for i in $(seq 15); do sleep 300 & done; wait`] }],
    });
    const pgid = await sheetPid(client, forker.job_id);
    await waitFor(() => readGroup(pgid).length >= 11, 10_000, 'the first 10 children');
    const innocent = await client.call('job.submit', { name: 'innocent', sheets: [{ argv: ['sleep', '6'] }] });
    await sheetPid(client, innocent.job_id);
    const sub = client.subscribe({ since: innocent.seq, types: ['job.', 'monitor.limit_exceeded'] });
    fs.writeFileSync(go, '');

    // Paused first: every process of its tree stopped (T), the innocent one not.
    const paused = await collectUntil(sub, (e) => e.type === 'job.paused', 20_000);
    expect(paused.at(-1)).toMatchObject({ job_id: forker.job_id, data: { by: 'resource_monitor' } });
    const states = await waitFor(() => {
      const procs = readGroup(pgid);
      return procs.length > 11 && procs.every((p) => p.state === 'T') ? procs : undefined;
    }, 5_000, 'the forker tree stopped');
    // Stopped where the limit caught it: the hard limit is 19 (95% of 20) with the innocent job's 1.
    expect(states.length).toBeGreaterThanOrEqual(17);
    expect((await client.call('job.get', { job_id: forker.job_id })).status).toBe('paused');
    const health = await client.call('daemon.health', {});
    expect(health.monitor.shed_pauses).toEqual([{ job_id: forker.job_id, cause: 'pressure', over: 'processes', paused_seconds: expect.any(Number) }]);

    // Then cancelled after the grace; the innocent one runs to its end.
    const rest = await collectUntil(sub, untilJobsEnded(2), 30_000);
    await sub.unsubscribe();
    const all = [...paused, ...rest];
    const cancelled = all.find((e) => e.type === 'job.cancelled')!;
    expect(cancelled).toMatchObject({ job_id: forker.job_id, data: { by: 'resource_monitor' } });
    expect(cancelled.data.reason).toMatch(/paused [\d.]+ s ago for processes; still at the hard limit/);
    const innocentTypes = all.filter((e) => e.job_id === innocent.job_id).map((e) => e.type);
    expect(innocentTypes).toContain('job.completed');
    expect(innocentTypes.filter((t) => t === 'job.paused' || t === 'job.cancelled')).toEqual([]);
    const pausedAt = paused.at(-1)!.ts;
    expect(cancelled.ts - pausedAt).toBeGreaterThanOrEqual(3.95); // not before the grace (4 s; the events' times are a few ms after the decisions)

    // The events say whom, for which measure, with which share, and why.
    const shed = await eventsOf(client, ['monitor.limit_exceeded']);
    const pause = shed.find((e) => e.data.action === 'paused')!;
    expect(pause.job_id).toBe(forker.job_id);
    expect(pause.data).toMatchObject({ job_id: forker.job_id, measure: 'processes', limit: 20, grace_seconds: 4 });
    expect(pause.data.job_figure).toBeGreaterThanOrEqual(17);
    expect(pause.data.share).toBeGreaterThan(0.85); // all but the innocent job's one process
    expect(pause.data.reason).toMatch(new RegExp(`^most processes: \\d+ of \\d+ \\([\\d.]+%\\); next: ${innocent.job_id} with 1$`));
    expect(shed.find((e) => e.data.action === 'cancelled')).toMatchObject({ job_id: forker.job_id, data: { cancelled_job_id: forker.job_id, measure: 'processes' } });
    expect(shed.every((e) => e.data.job_id !== innocent.job_id)).toBe(true);
    await waitFor(() => readGroup(pgid).length === 0, 10_000, 'the forker tree gone');
  }, 60_000);

  it('per-job limits: over its processes limit the job alone is paused, then cancelled; memory_mb likewise', async () => {
    const client = c.client;
    const { head_seq } = await client.call('events.read', { limit: 1 });
    const bystander = await client.call('job.submit', { name: 'bystander', sheets: [{ argv: ['sleep', '3'] }] });
    const forks = await client.call('job.submit', {
      name: 'limited-forks',
      limits: { processes: 3 },
      sheets: [{ argv: ['sh', '-c', 'for i in 1 2 3 4 5; do sleep 300 & done; wait'] }],
    });
    const hog = await client.call('job.submit', {
      name: 'limited-memory',
      limits: { memory_mb: 40 },
      sheets: [{ argv: ['python3', '-c', "import time\na=b'x'*(100*2**20)\ntime.sleep(300)"] }],
    });
    const sub = client.subscribe({ since: head_seq, types: ['job.', 'monitor.job_limit_exceeded'] });
    const events = await collectUntil(sub, untilJobsEnded(3), 40_000);
    await sub.unsubscribe();
    const of = (id: string) => events.filter((e) => e.job_id === id);
    expect(of(bystander.job_id).map((e) => e.type)).toEqual(expect.arrayContaining(['job.completed']));
    expect(of(bystander.job_id).some((e) => e.type === 'job.paused' || e.type === 'job.cancelled')).toBe(false);
    for (const [job, limit, value] of [[forks, 'processes', 3], [hog, 'memory_mb', 40]] as const) {
      const mine = of(job.job_id);
      const types = mine.map((e) => e.type);
      // job.paused with its limit event (paused), then the limit event (cancelled) → job.cancelled
      const order = ['job.paused', 'monitor.job_limit_exceeded', 'monitor.job_limit_exceeded', 'job.cancelled'];
      expect(types.filter((t) => order.includes(t))).toEqual(order);
      const [p, x] = mine.filter((e) => e.type === 'monitor.job_limit_exceeded');
      expect(p!.data).toMatchObject({ action: 'paused', limit, limit_value: value, grace_seconds: 4 });
      expect(p!.data.figure).toBeGreaterThan(value); // caught over its limit (the hog may be mid-allocation)
      expect(x!.data).toMatchObject({ action: 'cancelled', limit, limit_value: value });
      expect(x!.data.reason).toMatch(/still over [\d.]+ s after it was paused \(grace 4 s\)/);
      expect(mine.find((e) => e.type === 'job.paused')!.data.by).toBe('resource_monitor');
      expect(mine.find((e) => e.type === 'job.cancelled')!.data).toMatchObject({ by: 'resource_monitor' });
      expect(mine.find((e) => e.type === 'job.cancelled')!.data.reason).toMatch(limit === 'processes' ? /processes over its processes limit of 3/ : /RSS [\d.]+ MB over its memory_mb limit of 40/);
    }
  }, 60_000);

  it('refuses bad limits with an error naming the field', async () => {
    const client = c.client;
    const sheets = [{ argv: ['true'] }];
    for (const [limits, field, message] of [
      [{ memory_mb: 0 }, 'limits.memory_mb', /"limits.memory_mb" must be greater than 0/],
      [{ processes: 1.5 }, 'limits.processes', /"limits.processes" must be an integer/],
      [{ processes: 0 }, 'limits.processes', /"limits.processes" must be at least 1/],
      [{ cpu: 1 }, 'limits.cpu', /unknown field "limits.cpu"|limits.cpu/],
      ['lots', 'limits', /"limits" must be a map/],
    ] as const) {
      const err = await client.call('job.submit', { sheets, limits }).then(() => undefined, (e) => e);
      expect(err?.code, JSON.stringify(limits)).toBe(ErrorCode.INVALID_PARAMS);
      expect(err.message).toMatch(message);
      expect(err.data.field).toBe(field);
    }
  }, 60_000);
});

describe('auto-resume after pressure falls (grace 30 s)', () => {
  const c = useConductor({ config: { ...FAST, max_processes: 20, shed_pause_grace_seconds: 30 } });

  it('resumes the job it paused once pressure is below warn; a job a person paused stays paused', async () => {
    const client = c.client;
    // A: 10 processes, the biggest; C: 1, paused by a person; then B's burst of 9 crosses 95%.
    const a = await client.call('job.submit', { name: 'a', sheets: [{ argv: ['sh', '-c', 'for i in $(seq 9); do sleep 300 & done; wait'] }] });
    const c1 = await client.call('job.submit', { name: 'c', sheets: [{ argv: ['sleep', '300'] }] });
    const aPid = await sheetPid(client, a.job_id);
    await sheetPid(client, c1.job_id);
    await waitFor(() => readGroup(aPid).length === 10, 10_000, 'A with 10 processes');
    await client.call('job.pause', { job_id: c1.job_id });
    const sub = client.subscribe({ since: (await client.call('events.read', { limit: 1 })).head_seq, types: ['job.', 'monitor.'] });
    const b = await client.call('job.submit', { name: 'b', sheets: [{ argv: ['sh', '-c', 'for i in $(seq 8); do sleep 3 & done; wait'] }] });

    const events = await collectUntil(sub, (e) => e.type === 'monitor.job_resumed', 30_000);
    await sub.unsubscribe();
    const paused = events.find((e) => e.type === 'job.paused')!;
    expect(paused).toMatchObject({ job_id: a.job_id, data: { by: 'resource_monitor' } });
    const resumed = events.find((e) => e.type === 'job.resumed')!;
    expect(resumed).toMatchObject({ job_id: a.job_id, data: { by: 'resource_monitor' } });
    const why = events.find((e) => e.type === 'monitor.job_resumed')!;
    expect(why).toMatchObject({ job_id: a.job_id, data: { cause: 'pressure' } });
    expect(why.data.reason).toMatch(/^pressure fell to (none|low|medium) \(memory [\d.]+%, processes [\d.]+%\), below the warn level$/);
    expect(why.data.process_percent).toBeLessThan(75); // warn 80 minus the 5-point hysteresis
    expect(events.findIndex((e) => e.type === 'job.completed' && e.job_id === b.job_id)).toBeLessThan(events.indexOf(why));
    expect(events.some((e) => e.type === 'job.cancelled')).toBe(false);
    await waitFor(() => readGroup(aPid).every((p) => p.state !== 'T'), 5_000, 'A running again');

    // The person's pause holds: C is still paused, its process stopped, a while after.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await client.call('job.get', { job_id: c1.job_id })).status).toBe('paused');
    expect((await eventsOf(client, ['job.resumed'])).filter((e) => e.job_id === c1.job_id)).toEqual([]);
    await client.call('job.cancel', { job_id: a.job_id });
    await client.call('job.cancel', { job_id: c1.job_id });
  }, 60_000);
});

describe('the default limits do not shed ordinary work', () => {
  // No max_processes / max_memory_mb: the machine's defaults (config.ts, machineDefaults.ts).
  const c = useConductor({ config: FAST });

  it('a make -j build of 40 parallel recipes (well over the old default of 50 processes) completes untouched', async () => {
    const client = c.client;
    const dir = fs.mkdtempSync(path.join(c.home, 'build-'));
    // Each recipe: a shell and two children, like a compiler driver and its passes.
    const targets = Array.from({ length: 40 }, (_, i) => `t${i}`);
    fs.writeFileSync(path.join(dir, 'Makefile'), `all: ${targets.join(' ')}\n${targets.map((t) => `${t}:\n\tsleep 2 & sleep 2; wait\n`).join('')}.PHONY: all ${targets.join(' ')}\n`);
    const { job_id, seq } = await client.call('job.submit', { name: 'build', sheets: [{ argv: ['make', '-j40'], cwd: dir }] });
    const sub = client.subscribe({ include_snapshots: true, since: seq - 1, types: ['job.', 'monitor.'] });
    let most = 0;
    const events = await collectUntil(sub, (e) => {
      const cost = e.type === 'monitor.snapshot' ? e.data.job_costs.find((j: any) => j.job_id === job_id) : undefined;
      if (cost) most = Math.max(most, cost.processes);
      return e.job_id === job_id && ['job.completed', 'job.failed', 'job.cancelled'].includes(e.type);
    }, 60_000);
    await sub.unsubscribe();
    expect(events.at(-1)!.type).toBe('job.completed');
    expect(most).toBeGreaterThan(50); // it did cross the old default
    expect(events.filter((e) => ['job.paused', 'monitor.limit_exceeded', 'monitor.job_limit_exceeded'].includes(e.type))).toEqual([]);
    const config = await client.call('daemon.config', {});
    expect(most).toBeLessThan(0.8 * config.max_processes); // not even near the warn level
  }, 60_000);
});

describe('shedding at the memory limit (grace 4 s)', () => {
  // warn at 416 MB, hard limit at 494 MB; the conductor itself holds ~70-90 MB of it.
  const c = useConductor({ config: { ...FAST, max_memory_mb: 520, shed_pause_grace_seconds: 4 } });

  it('blames the largest RSS, an old job, not the newer one whose growth crossed the limit', async () => {
    const client = c.client;
    const go = path.join(c.home, 'go-memory');
    const big = await client.call('job.submit', { name: 'big', sheets: [{ argv: ['python3', '-c', "import time\na=b'x'*(250*2**20)\ntime.sleep(300)"] }] });
    await waitFor(async () => ((await client.call('job.get', { job_id: big.job_id })).cost?.rss_mb ?? 0) > 250, 20_000, 'the big job holding 250 MB');
    const grower = await client.call('job.submit', {
      name: 'grower',
      sheets: [{ argv: ['python3', '-c', `import os, time\na=b'x'*(20*2**20)\nwhile not os.path.exists(${JSON.stringify(go)}): time.sleep(0.05)\nb=b'y'*(150*2**20)\ntime.sleep(6)`] }],
    });
    await waitFor(async () => ((await client.call('job.get', { job_id: grower.job_id })).cost?.rss_mb ?? 0) > 20, 20_000, 'the grower at 20 MB');
    const sub = client.subscribe({ since: grower.seq, types: ['job.', 'monitor.limit_exceeded'] });
    fs.writeFileSync(go, '');
    const events = await collectUntil(sub, untilJobsEnded(2), 40_000);
    await sub.unsubscribe();
    const shed = events.filter((e) => e.type === 'monitor.limit_exceeded');
    expect(shed.map((e) => [e.data.action, e.job_id])).toEqual([['paused', big.job_id], ['cancelled', big.job_id]]);
    expect(shed[0]!.data).toMatchObject({ measure: 'memory', limit: 520 });
    expect(shed[0]!.data.job_figure).toBeGreaterThan(250);
    expect(shed[0]!.data.share).toBeGreaterThan(0.45);
    expect(shed[0]!.data.reason).toMatch(new RegExp(`^largest RSS: [\\d.]+ MB of [\\d.]+ MB \\([\\d.]+%\\); next: ${grower.job_id} with [\\d.]+ MB$`));
    expect(events.find((e) => e.type === 'job.cancelled')).toMatchObject({ job_id: big.job_id, data: { by: 'resource_monitor' } });
    expect(events.filter((e) => e.job_id === grower.job_id && ['job.paused', 'job.cancelled'].includes(e.type))).toEqual([]);
    expect(events.some((e) => e.type === 'job.completed' && e.job_id === grower.job_id)).toBe(true);
  }, 60_000);
});
