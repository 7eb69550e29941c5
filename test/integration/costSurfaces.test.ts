/**
 * Every surface shows the same per-job cost (issue 14 proof): two busy jobs and an idle one on
 * a real conductor serving its dashboard; `mzt jobs --json`, `mzt top --json --once`, job.get,
 * the dashboard's /api/jobs and /api/monitor/snapshot and /metrics are read within one profiler
 * interval (checked: every snapshot timestamp the same) and must agree exactly; and they agree
 * with /proc read at the same moment within a tolerance.
 */
import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobCost, SystemSnapshot } from '../../src/monitor/snapshot.js';
import { CLI, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { sumGroup } from '../helpers/procGroup.js';
import { sheetPid } from '../helpers/jobs.js';

// A wide interval: all the reads of one round fit between two samples.
const INTERVAL = 3;
const ctx = useConductor({
  config: { dashboard_enabled: true, dashboard_port: 0, profiler_interval_seconds: INTERVAL, profiler_budget_percent: 100 },
});
let base: string;
let token: string;
const jobs: Record<'busy1' | 'busy2' | 'idle', { job_id: string; pgid: number }> = {} as never;

const SPECS = {
  busy1: ['sh', '-c', 'while :; do :; done'],
  // A busy child under a shell, plus ~40 MB held: the tree's sum, not one process.
  busy2: ['sh', '-c', `sh -c 'while :; do :; done' & python3 -c "import time; a=b'x'*(40*2**20); time.sleep(300)" & wait`],
  idle: ['sleep', '300'],
} as const;

beforeAll(async () => {
  const url = new URL((await ctx.client.call('daemon.status', {})).dashboard_url as string);
  token = url.searchParams.get('token')!;
  base = url.origin;
  for (const [name, argv] of Object.entries(SPECS) as Array<[keyof typeof SPECS, readonly string[]]>) {
    const { job_id } = await ctx.client.call('job.submit', { name, sheets: [{ argv: [...argv] }] });
    const pgid = await sheetPid(ctx.client, job_id, 10_000, `${name} pid`);
    jobs[name] = { job_id, pgid };
  }
  // Every job's tree seen twice (CPU% known) with all its processes.
  await waitFor(async () => {
    const s = (await ctx.client.call('monitor.snapshot', {}).catch(() => undefined)) as SystemSnapshot | undefined;
    const c = (k: keyof typeof jobs) => s?.job_costs.find((x) => x.job_id === jobs[k].job_id);
    return c('busy1')?.cpu_percent != null && c('busy2')?.cpu_percent != null && c('busy2')!.processes >= 3 && c('busy2')!.rss_mb > 40 && c('idle')?.cpu_percent != null;
  }, 30_000, 'the three jobs measured');
}, 60_000);

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: ctx.home } }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
}

async function http(path: string): Promise<string> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status, path).toBe(200);
  return res.text();
}

/** The figures every surface shows for a live job. */
const LIVE_KEYS = ['cpu_percent', 'rss_mb', 'processes', 'cpu_seconds', 'peak_rss_mb'] as const;
const figures = (c: Partial<JobCost> | null | undefined) => Object.fromEntries(LIVE_KEYS.map((k) => [k, c?.[k]]));

describe('cost on every surface', () => {
  it('mzt jobs --json, mzt top --json --once, job.get, the dashboard API and /metrics agree with each other and with /proc', async () => {
    let round: Awaited<ReturnType<typeof readAll>> | undefined;
    for (let attempt = 0; attempt < 8 && !round; attempt++) {
      // Start right after a sample, so the round has the whole interval (two busy jobs hold both
      // cores, and each CLI takes a second or more to start on a loaded machine).
      const last = ((await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot).timestamp;
      await waitFor(async () => ((await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot).timestamp !== last, 10_000, 'a new sample');
      const r = await readAll();
      // All from the same sample: otherwise try again (a sample fell between the reads).
      if (new Set([r.before, r.after, r.top.timestamp, r.apiSnapshot.timestamp]).size === 1) round = r;
    }
    expect(round, 'eight rounds without one whole round inside one profiler interval').toBeDefined();
    const r = round!;
    for (const [name, { job_id, pgid }] of Object.entries(jobs)) {
      const snap = figures(r.top.job_costs.find((c) => c.job_id === job_id));
      expect(snap.cpu_percent, name).not.toBeUndefined();
      expect(figures(r.cliJobs.jobs.find((j: any) => j.job_id === job_id).cost), `${name}: mzt jobs --json`).toEqual(snap);
      expect(figures(r.gets[job_id].cost), `${name}: job.get`).toEqual(snap);
      expect(figures(r.apiJobs.jobs.find((j: any) => j.job_id === job_id).cost), `${name}: /api/jobs`).toEqual(snap);
      expect(figures(r.apiSnapshot.job_costs.find((c) => c.job_id === job_id)), `${name}: /api/monitor/snapshot`).toEqual(snap);
      const metric = (m: string) => Number(new RegExp(`^${m}\\{job_id="${job_id}",name="${name}"\\} (\\S+)$`, 'm').exec(r.metrics)?.[1]);
      expect(metric('mzt_job_cpu_seconds_total'), `${name}: /metrics cpu`).toBe(snap.cpu_seconds);
      expect(metric('mzt_job_rss_bytes'), `${name}: /metrics rss`).toBe(Math.round(snap.rss_mb! * 1048576));
      expect(metric('mzt_job_cpu_percent'), `${name}: /metrics cpu%`).toBe(snap.cpu_percent);

      // /proc, read right after: the same processes, RSS within 20% (+2 MB), CPU seconds no
      // fewer than the sample's and no more than what the interval since could add.
      const proc = r.proc[name]!;
      expect(proc.processes, `${name}: processes`).toBe(snap.processes);
      expect(Math.abs(proc.rss_mb - snap.rss_mb!), `${name}: rss ${proc.rss_mb} vs ${snap.rss_mb}`).toBeLessThanOrEqual(proc.rss_mb * 0.2 + 2);
      const since = r.procAt - r.top.timestamp;
      expect(proc.cpu_seconds, `${name}: cpu seconds`).toBeGreaterThanOrEqual(snap.cpu_seconds! - 0.05);
      expect(proc.cpu_seconds, `${name}: cpu seconds`).toBeLessThanOrEqual(snap.cpu_seconds! + since * r.top.cpu_count + 0.2);
      void pgid;
    }
    const cpu = (k: keyof typeof jobs) => r.top.job_costs.find((c) => c.job_id === jobs[k].job_id)!.cpu_percent!;
    expect(cpu('busy1')).toBeGreaterThan(5); // a busy loop on a shared 2-core machine
    expect(cpu('busy2')).toBeGreaterThan(5);
    expect(cpu('idle')).toBeLessThan(2);
    console.log(`cost agreement: ${JSON.stringify(Object.fromEntries(Object.keys(jobs).map((k) => [k, { ...figures(r.top.job_costs.find((c) => c.job_id === jobs[k as keyof typeof jobs].job_id)), proc: r.proc[k] }])))}`);
  }, 120_000);

  it('/metrics: an ended job keeps its CPU counter but no gauges; a cleared job has no series', async () => {
    const { job_id } = jobs.idle;
    await ctx.client.call('job.cancel', { job_id });
    await waitFor(async () => (await ctx.client.call('job.get', { job_id })).status === 'cancelled', 15_000, 'idle cancelled');
    const ended = await http('/metrics');
    expect(ended).toMatch(new RegExp(`^mzt_job_cpu_seconds_total\\{job_id="${job_id}",name="idle"\\} \\d`, 'm'));
    expect(ended).not.toMatch(new RegExp(`^mzt_job_(rss_bytes|cpu_percent|processes)\\{job_id="${job_id}"`, 'm'));
    expect(ended).toMatch(new RegExp(`^mzt_job_rss_bytes\\{job_id="${jobs.busy1.job_id}"`, 'm')); // the running ones stay
    await ctx.client.call('job.clear', { job_ids: [job_id] });
    expect(await http('/metrics')).not.toContain(`job_id="${job_id}"`);
  });

  it('mzt jobs and mzt job print the figures as text: CPU%, RSS, CPU time', async () => {
    const text = await cli(['jobs']);
    expect(text.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+SHEETS\s+ATTEMPT\s+CPU%\s+RSS\s+CPU TIME\s+STARTED\s+DURATION$/);
    const row = text.split('\n').find((l) => l.startsWith(jobs.busy2.job_id))!;
    expect(row).toMatch(/running\s+0\/1\s+1\s+\d+(\.\d)?\s+\d+M\s+\d+\.\ds\s/);
    const one = await cli(['job', jobs.busy2.job_id]);
    expect(one).toMatch(/^cost {6}CPU \d+(\.\d)?%, RSS \d+M, 3 process\(es\) now; CPU time \d+\.\ds, peak RSS \d+M$/m);
    expect(one).toMatch(/^SHEET\s+STATUS\s+PID\s+EXIT\s+DURATION\s+CPU%\s+RSS\s+CPU TIME\s+COMMAND$/m);
  });
});

async function readAll() {
  const before = ((await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot).timestamp;
  const [cliJobs, top, apiJobs, apiSnapshot, metrics, ...gets] = await Promise.all([
    cli(['jobs', '--json']).then((t) => JSON.parse(t)),
    cli(['top', '--json', '--once']).then((t) => JSON.parse(t) as SystemSnapshot),
    http('/api/jobs?limit=50').then((t) => JSON.parse(t)),
    http('/api/monitor/snapshot').then((t) => JSON.parse(t) as SystemSnapshot),
    http('/metrics'),
    ...Object.values(jobs).map(({ job_id }) => ctx.client.call('job.get', { job_id })),
  ]);
  const proc = Object.fromEntries(Object.entries(jobs).map(([name, { pgid }]) => [name, sumGroup(pgid)]));
  const procAt = Date.now() / 1000;
  const after = ((await ctx.client.call('monitor.snapshot', {})) as SystemSnapshot).timestamp;
  return { before, after, cliJobs, top, apiJobs, apiSnapshot, metrics, gets: Object.fromEntries(gets.map((g) => [g.job_id, g])), proc, procAt };
}
