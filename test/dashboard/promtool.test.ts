/**
 * /metrics of a real conductor (its own dashboard, its fleet export on a real nats-server),
 * checked by Debian's `promtool check metrics`; docs/fleet/prometheus.yml checked by
 * `promtool check config`; every metric docs/fleet/grafana-dashboard.json queries exists in
 * that scrape.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { useNatsServer } from '../helpers/natsServer.js';
import { ensurePromtool, promtool } from '../helpers/promtool.js';
import { httpGet } from '../helpers/sse.js';

const TOKEN = 'promtool-test-token-0123456789';
// Registered before the fixture: promtool and nats-server are ready before the conductor starts, and NATS goes after it stops.
beforeAll(() => ensurePromtool(), 120_000);
const nats = useNatsServer();
const fixture = useConductor({
  client: { reconnect: false },
  // The fleet settings name the NATS server, known only once it runs.
  prepare: () => ({
    config: {
      dashboard_enabled: true,
      dashboard_port: 0,
      dashboard_token: TOKEN,
      profiler_interval_seconds: 0.2,
      fleet: { nats_url: nats.url, host: 'prom-a' },
    },
  }),
});
let origin: string;

const scrape = async (): Promise<string> => {
  const res = await httpGet(`${origin}/metrics`, { authorization: `Bearer ${TOKEN}` });
  expect(res.status).toBe(200);
  return res.body;
};
/** Submits a job that sleeps; resolves once all of its per-job series are in a scrape. */
async function runningJob(name: string): Promise<string> {
  const { job_id } = await fixture.client.call('job.submit', { name, sheets: [{ argv: ['sleep', '30'] }] });
  // Its cost is in the snapshot after a profiler sample or two (CPU% after two).
  await waitFor(
    async () => {
      const text = await scrape();
      return ['mzt_job_rss_bytes', 'mzt_job_cpu_percent', 'mzt_job_cpu_seconds_total'].every((m) => new RegExp(`^${m}\\{job_id="${job_id}"`, 'm').test(text));
    },
    10_000,
    `${name}: per-job series`,
  );
  return job_id;
}

/** Metric families declared by `# TYPE` lines. */
const families = (text: string) => new Set([...text.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));

beforeAll(async () => {
  origin = new URL((await fixture.client.call('daemon.status', {})).dashboard_url!).origin;
});

describe('/metrics and Prometheus', () => {
  it('promtool check metrics finds nothing wrong in a real scrape with jobs, fleet and process series', async () => {
    const done = await fixture.client.call('job.submit', { name: 'quick', sheets: [{ argv: ['true'] }] });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id: done.job_id })).status === 'completed', 10_000, 'quick ended');
    // A name with a quote, a backslash and a newline: label values must come out escaped.
    const running = { job_id: await runningJob('sleeper "q" \\ \n x') };
    await waitFor(async () => /^mzt_fleet_connected 1$/m.test(await scrape()), 15_000, 'fleet export connected');

    const text = await scrape();
    const check = promtool(['check', 'metrics'], text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);

    const names = families(text);
    for (const name of [
      'mzt_up', 'mzt_jobs', 'mzt_events_total', 'mzt_job_cpu_seconds_total', 'mzt_job_rss_bytes', 'mzt_job_cpu_percent', 'mzt_job_processes',
      'mzt_job_peak_rss_bytes', 'mzt_conductor_rss_bytes', 'mzt_system_memory_total_bytes', 'mzt_pressure_level',
      'mzt_fleet_connected', 'mzt_fleet_exported_seq', 'mzt_fleet_export_lag_events', 'mzt_fleet_export_lag_bytes', 'mzt_fleet_info',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    // Every family has its HELP line too, and no series is in megabytes.
    for (const name of names) expect(text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    expect(text).not.toMatch(/megabytes/);
    expect(text).toContain(`mzt_job_rss_bytes{job_id="${running.job_id}",name="sleeper \\"q\\" \\\\ \\n x"} `);
    expect(text).toMatch(new RegExp(`^mzt_fleet_info\\{host="prom-a"\\} 1$`, 'm'));
    // process_* describe the conductor (it serves its own dashboard): its start time is its pid's.
    const started = Number(/^process_start_time_seconds (\d+)/m.exec(text)![1]);
    const bootTime = Number(/^btime (\d+)/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]);
    const startTicks = Number(fs.readFileSync(`/proc/${fixture.conductor.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    expect(Math.abs(started - (bootTime + startTicks / 100))).toBeLessThanOrEqual(2);

    // A cleared job leaves no series behind.
    await fixture.client.call('job.cancel', { job_id: running.job_id });
    await waitFor(async () => (await fixture.client.call('job.get', { job_id: running.job_id })).status === 'cancelled', 15_000, 'sleeper cancelled');
    await fixture.client.call('job.clear', { job_ids: [running.job_id, done.job_id] });
    const after = await scrape();
    expect(after).not.toContain(running.job_id);
    expect(after).not.toContain(done.job_id);
    expect(promtool(['check', 'metrics'], after).code).toBe(0);
  });

  it('the fleet series follow daemon.status.fleet: lag grows while NATS is down, back to 0 after', async () => {
    const value = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    await nats.stop();
    await waitFor(async () => value(await scrape(), 'mzt_fleet_connected') === 0, 20_000, 'export disconnected');
    for (let i = 0; i < 3; i++) await fixture.client.call('job.submit', { name: `offline-${i}`, sheets: [{ argv: ['true'] }] });
    const before = (await fixture.client.call('daemon.status', {})).fleet!;
    const down = await scrape();
    const after = (await fixture.client.call('daemon.status', {})).fleet!;
    expect(before.connected).toBe(false);
    const lag = value(down, 'mzt_fleet_export_lag_events');
    expect(lag).toBeGreaterThanOrEqual(Math.min(before.export.lag_events, after.export.lag_events));
    expect(lag).toBeLessThanOrEqual(Math.max(before.export.lag_events, after.export.lag_events));
    expect(lag).toBeGreaterThan(0);
    expect(value(down, 'mzt_fleet_export_lag_bytes')).toBeGreaterThan(0);
    expect(value(down, 'mzt_fleet_exported_seq')).toBe(before.export.exported_seq);

    await nats.restart();
    const up: string = await waitFor(
      async () => {
        const text = await scrape();
        return value(text, 'mzt_fleet_connected') === 1 && value(text, 'mzt_fleet_export_lag_events') === 0 ? text : '';
      },
      30_000,
      'export caught up',
    );
    expect(value(up, 'mzt_fleet_export_lag_bytes')).toBe(0);
    expect(value(up, 'mzt_fleet_exported_seq')).toBeGreaterThanOrEqual(before.export.exported_seq + lag);
    expect(value(up, 'mzt_fleet_published_events_total')).toBeGreaterThan(0);
  });

  it('promtool check metrics does fail on what /metrics used to serve (megabytes, a counter typed gauge)', () => {
    const old = [
      '# HELP mzt_conductor_rss_megabytes Resident memory of the conductor process.',
      '# TYPE mzt_conductor_rss_megabytes gauge',
      'mzt_conductor_rss_megabytes 70',
      '# HELP mzt_events Durable events committed.',
      '# TYPE mzt_events counter',
      'mzt_events 5',
      '',
    ].join('\n');
    const check = promtool(['check', 'metrics'], old);
    expect(check.code).not.toBe(0);
    expect(check.output).toMatch(/mzt_conductor_rss_megabytes.*base unit/);
    expect(check.output).toMatch(/mzt_events.*_total/);
  });

  it('docs/fleet/prometheus.yml passes promtool check config (with its targets file and a token file beside it)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-prom-config-'));
    try {
      for (const f of ['prometheus.yml', 'targets.json']) fs.copyFileSync(path.join(REPO_ROOT, 'docs/fleet', f), path.join(dir, f));
      const noToken = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(noToken.code).not.toBe(0); // promtool really reads the credentials file it names
      expect(noToken.output).toMatch(/mzt-dashboard\.token/);
      fs.writeFileSync(path.join(dir, 'mzt-dashboard.token'), `${TOKEN}\n`, { mode: 0o600 });
      const check = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(check.output).toMatch(/SUCCESS/);
      expect(check.code).toBe(0);
      const targets = JSON.parse(fs.readFileSync(path.join(dir, 'targets.json'), 'utf8')) as Array<{ targets: string[] }>;
      expect(targets.flatMap((t) => t.targets).length).toBeGreaterThanOrEqual(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every metric docs/fleet/grafana-dashboard.json queries is in a real scrape', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs/fleet/grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'expr' || k === 'definition') && typeof x === 'string') exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dashboard);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:mzt|process|nodejs)_\w+)/g)].map((m) => m[1]!)));
    expect(used.size).toBeGreaterThanOrEqual(10);
    const job_id = await runningJob('grafana');
    const names = families(await scrape());
    await fixture.client.call('job.cancel', { job_id });
    const missing = [...used].filter((n) => !names.has(n));
    expect(missing).toEqual([]);
  });
});
