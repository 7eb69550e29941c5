/**
 * /metrics scraped over HTTP and checked against what the conductor's socket answers at the
 * same moment (daemon.status, job.list, monitor.snapshot; monitor.resource_report as a second
 * surface for a job's peak).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { httpGet } from '../helpers/sse.js';

// One job at a time, so a test can hold jobs queued behind a running one.
const fixture = useConductor({ client: { reconnect: false }, config: { profiler_interval_seconds: 0.2, max_concurrent_jobs: 1 } });
let dashboard: DashboardServer;

beforeAll(async () => {
  dashboard = new DashboardServer({ home: fixture.home, port: 0 });
  await dashboard.start();
  await waitFor(() => dashboard.bridge.connected, 10_000, 'bridge connected');
});

afterAll(async () => {
  await dashboard?.stop();
});

/** Parses the text exposition format into name{labels} → value, checking every line's shape. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const declared = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\w+) (gauge|counter|histogram)$/.exec(line);
    if (type) {
      declared.add(type[1]!);
      continue;
    }
    const m = /^(\w+)(\{[^}]*\})? (-?[0-9.e+-]+|[+-]Inf|NaN|Nan)$/.exec(line);
    expect(m, `malformed line: ${line}`).not.toBeNull();
    const base = m![1]!.replace(/_(bucket|sum|count)$/, '');
    expect(declared.has(m![1]!) || declared.has(base), `${m![1]} has no TYPE line`).toBe(true);
    out.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return out;
}

describe('/metrics', () => {
  it('matches the socket: jobs by state, events, pressure, conductor memory, per-job peak RSS', async () => {
    // A job that holds ~60 MB for a while, so the profiler sees its peak, and one that fails.
    const big = await fixture.client.call('job.submit', {
      name: 'holder',
      sheets: [{ argv: [process.execPath, '-e', 'const b = Buffer.alloc(60 * 1024 * 1024, 1); setTimeout(() => b.length, 1500)'] }],
    });
    const bad = await fixture.client.call('job.submit', { name: 'bad', sheets: [{ argv: ['sh', '-c', 'exit 3'] }] });
    for (const id of [big.job_id, bad.job_id]) {
      await waitFor(async () => !['queued', 'running'].includes((await fixture.client.call('job.get', { job_id: id })).status), 15_000, `${id} ended`);
    }
    await waitFor(async () => (await fixture.client.call('monitor.resource_report', { job_id: big.job_id })).peak_rss_mb > 50, 5000, 'peak recorded');

    // A job's CPU seconds can still grow after it ended (its reaped children are counted at the
    // next sample), so the scraped value must lie between the reports read before and after.
    const reportsBefore = new Map<string, { peak_rss_mb: number; total_cpu_seconds: number }>();
    for (const id of [big.job_id, bad.job_id]) reportsBefore.set(id, await fixture.client.call('monitor.resource_report', { job_id: id }));
    const before = await fixture.client.call('daemon.status', {});
    // As Prometheus scrapes it: Authorization: Bearer with the token.
    const res = await httpGet(`http://127.0.0.1:${dashboard.port}/metrics`, { authorization: `Bearer ${dashboard.token}` });
    const after = await fixture.client.call('daemon.status', {});
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    // Base units only (the series used to be in megabytes).
    expect(res.body).not.toMatch(/_megabytes/);
    const m = parse(res.body);

    expect(m.get('mzt_up')).toBe(1);
    const events = m.get('mzt_events_total')!;
    expect(events).toBeGreaterThanOrEqual(before.head_seq);
    expect(events).toBeLessThanOrEqual(after.head_seq);

    const { jobs } = await fixture.client.call('job.list', { limit: 1000 });
    for (const state of ['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted']) {
      expect(m.get(`mzt_jobs{state="${state}"}`), state).toBe(jobs.filter((j) => j.status === state).length);
    }
    expect(m.get('mzt_jobs{state="completed"}')).toBe(1);
    expect(m.get('mzt_jobs{state="failed"}')).toBe(1);

    // The holder's peak (read from job.list's cost) is the same figure resource_report gives.
    const report = await fixture.client.call('monitor.resource_report', { job_id: big.job_id });
    const peak = m.get(`mzt_job_peak_rss_bytes{job_id="${big.job_id}",name="holder"}`)!;
    expect(peak).toBeGreaterThanOrEqual(Math.round(reportsBefore.get(big.job_id)!.peak_rss_mb * 1048576));
    expect(peak).toBeLessThanOrEqual(Math.round(report.peak_rss_mb * 1048576));
    for (const [id, name] of [[big.job_id, 'holder'], [bad.job_id, 'bad']]) {
      // The old gauge of a growing figure is gone: CPU seconds are a counter only.
      expect(m.has(`mzt_job_cpu_seconds{job_id="${id}",name="${name}"}`)).toBe(false);
    }
    // (mzt_job_cpu_seconds_total against job.get's cost: costSurfaces.test.ts.)
    expect(m.get(`mzt_job_cpu_seconds_total{job_id="${big.job_id}",name="holder"}`)).toBeGreaterThan(0);
    expect(m.get(`mzt_job_peak_rss_bytes{job_id="${big.job_id}",name="holder"}`)).toBeGreaterThan(50 * 1048576);

    const snap = await fixture.client.call('monitor.snapshot', {});
    expect(m.get(`mzt_pressure_level{level="${snap.pressure_level}"}`)).toBe(['none', 'low', 'medium', 'high', 'critical'].indexOf(snap.pressure_level));
    // Conductor RSS moves between samples: the scraped value is a real one, close to now.
    const rss = m.get('mzt_conductor_rss_bytes')! / 1048576;
    expect(rss).toBeGreaterThan(snap.conductor.rss_mb * 0.8);
    expect(rss).toBeLessThan(snap.conductor.rss_mb * 1.2);
    expect(m.get('mzt_system_memory_total_bytes')).toBe(Math.round(snap.system_memory_total_mb * 1048576));
    // The serving process's defaults (here: the test process hosts the dashboard).
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.has('process_cpu_seconds_total')).toBe(true);
    // The bridge subscribes only while a page is open (none here): the socket's own count.
    expect(m.get('mzt_subscriptions')).toBe((await fixture.client.call('daemon.status', {})).subscriptions);
  });

  it('asks the conductor three things a scrape however many jobs; peak RSS is job.list\'s cost, none for a queued job', async () => {
    // One running job that has been sampled, three queued behind it (max_concurrent_jobs 1).
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await fixture.client.call('job.submit', { name: `waiter-${i}`, sheets: [{ argv: ['sleep', '30'] }] })).job_id);
    try {
      await waitFor(async () => (await fixture.client.call('job.get', { job_id: ids[0]! })).cost !== null, 10_000, 'first waiter sampled');
      expect((await fixture.client.call('job.get', { job_id: ids[3]! })).status).toBe('queued');

      // Every call the scrape makes through the bridge, with the answer it got.
      const calls: Array<{ method: string; result: any }> = [];
      const call = dashboard.bridge.call.bind(dashboard.bridge);
      dashboard.bridge.call = async (method: string, ...rest: any[]) => {
        const result = await call(method, ...rest);
        calls.push({ method, result });
        return result;
      };
      let body: string;
      try {
        body = (await httpGet(`http://127.0.0.1:${dashboard.port}/metrics`, { authorization: `Bearer ${dashboard.token}` })).body;
      } finally {
        dashboard.bridge.call = call;
      }
      // Six jobs in the list; resource_report per job would be six more.
      expect(calls.map((c) => c.method).sort()).toEqual(['daemon.status', 'job.list', 'monitor.snapshot']);

      const m = parse(body);
      const listed = calls.find((c) => c.method === 'job.list')!.result.jobs as Array<{ job_id: string; name: string; status: string; cost: { peak_rss_mb: number } | null }>;
      expect(listed.length).toBeGreaterThanOrEqual(6);
      for (const j of listed) {
        const series = m.get(`mzt_job_peak_rss_bytes{job_id="${j.job_id}",name="${j.name}"}`);
        if (j.cost) expect(series, j.name).toBe(Math.round(j.cost.peak_rss_mb * 1048576));
        else expect(series, `${j.name} (${j.status}) has no cost: no sample, not 0`).toBeUndefined();
      }
      expect(listed.filter((j) => j.status === 'queued').map((j) => j.job_id)).toEqual(expect.arrayContaining(ids.slice(1)));
      expect(m.get(`mzt_job_peak_rss_bytes{job_id="${ids[0]}",name="waiter-0"}`)).toBeGreaterThan(0);
    } finally {
      for (const id of ids) await fixture.client.call('job.cancel', { job_id: id }).catch(() => undefined);
    }
  });

  it('says mzt_up 0 (and nothing made up) when the conductor is unreachable', async () => {
    const orphan = new DashboardServer({ home: fixture.home, socketPath: '/nonexistent/mzt.sock', port: 0 });
    await orphan.start();
    try {
      const m = parse((await httpGet(`http://127.0.0.1:${orphan.port}/metrics`, { authorization: `Bearer ${orphan.token}` })).body);
      expect(m.get('mzt_up')).toBe(0);
      expect(m.has('mzt_events_total')).toBe(false);
      expect([...m.keys()].some((k) => k.startsWith('mzt_jobs'))).toBe(false);
    } finally {
      await orphan.stop();
    }
  });
});
