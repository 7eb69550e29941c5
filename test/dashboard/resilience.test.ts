/**
 * The dashboard when things go wrong: the conductor stops (source fallback conductor → JSONL →
 * SQLite → 503; the snapshot route's 503/404), the conductor restarts (the bridge reconnects,
 * a live SSE stream continues without a gap, a browser reconnecting with Last-Event-ID
 * resumes), and a browser stops reading (its queue stays bounded; it is told it lagged and
 * then gets every event from the log).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { DaemonClient } from '../../src/ipc/client.js';
import { MonitorStorage } from '../../src/storage/monitorStorage.js';
import { CLI, makeHome, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { httpGet, openSse } from '../helpers/sse.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { start?: boolean; queueLimit?: number; bridgeMaxQueuedBytes?: number } = {}) {
  const home = makeHome();
  cleanups.push(() => removeHome(home));
  let conductor: RunningConductor | undefined;
  const env = { MZT_DEBUG_METHODS: '1' };
  const config = { profiler_interval_seconds: 0.3 };
  const start = async () => {
    conductor = await startConductor(home, { env, config });
    return conductor;
  };
  if (opts.start !== false) await start();
  cleanups.push(() => conductor?.stop());
  const dashboard = new DashboardServer({ home, port: 0, heartbeatMs: 500, queueLimit: opts.queueLimit, bridgeMaxQueuedBytes: opts.bridgeMaxQueuedBytes });
  await dashboard.start();
  cleanups.push(() => dashboard.stop());
  // Every route needs the token (kept in this home's run/dashboard.token).
  const auth = (headers: Record<string, string> = {}) => ({ authorization: `Bearer ${dashboard.token}`, ...headers });
  const base = `http://127.0.0.1:${dashboard.port}`;
  if (conductor) await waitFor(() => dashboard.bridge.connected, 10_000, 'bridge');
  const sse = (url: string, headers?: Record<string, string>) => openSse(url, auth(headers));
  return {
    home,
    dashboard,
    base,
    start,
    conductor: () => conductor!,
    get: (url: string, headers?: Record<string, string>) => httpGet(url, auth(headers)),
    sse,
    /** The debug events' stream, open (its `connected` came). */
    async debugStream() {
      const stream = await sse(`${base}/api/events?types=debug.`);
      await stream.waitFor((e) => e.event === 'connected');
      return stream;
    },
  };
}

describe('monitor source fallback', () => {
  it('conductor → JSONL → SQLite → 503, and /api/monitor/snapshot follows', async () => {
    const t = await setup();
    // Running: the conductor is the source.
    const live = await t.sse(`${t.base}/api/monitor/stream`);
    expect((await live.waitFor((e) => e.event === 'connected')).data.source).toBe('daemon');
    await live.waitFor((e) => e.event === 'snapshot');
    await waitFor(() => fs.existsSync(path.join(t.home, 'monitor.jsonl')), 5000, 'monitor.jsonl');
    // Stopped: the open stream says so; a new one falls back to the JSONL file.
    await t.conductor().stop();
    await live.waitFor((e) => e.event === 'conductor' && e.data.connected === false, 5000);
    live.close();
    await waitFor(() => !t.dashboard.bridge.connected, 5000, 'bridge down');
    const fromJsonl = await t.sse(`${t.base}/api/monitor/stream?poll_interval=0.5`);
    expect((await fromJsonl.waitFor((e) => e.event === 'connected')).data).toEqual({ source: 'jsonl', path: path.join(t.home, 'monitor.jsonl') });
    const lastLine = fs.readFileSync(path.join(t.home, 'monitor.jsonl'), 'utf8').trim().split('\n').at(-1)!;
    expect((await fromJsonl.waitFor((e) => e.event === 'snapshot')).data).toEqual(JSON.parse(lastLine));
    fromJsonl.close();
    // The snapshot route reads monitor.db when the conductor is down (the newest is seconds old).
    const stored = await t.get(`${t.base}/api/monitor/snapshot`);
    expect(stored.status).toBe(200);
    expect(stored.headers['x-mzt-source']).toBe('sqlite');
    // No JSONL: SQLite.
    fs.rmSync(path.join(t.home, 'monitor.jsonl'));
    const fromDb = await t.sse(`${t.base}/api/monitor/stream`);
    expect((await fromDb.waitFor((e) => e.event === 'connected')).data.source).toBe('sqlite');
    expect((await fromDb.waitFor((e) => e.event === 'snapshot')).data.timestamp).toBe(JSON.parse(stored.body).timestamp);
    fromDb.close();
    // Asking for the conductor explicitly while it is down: 503 naming it.
    const daemon = await t.get(`${t.base}/api/monitor/stream?source=daemon`);
    expect(daemon.status).toBe(503);
    expect(JSON.parse(daemon.body).error).toMatch(/conductor is not running/);
    // Nothing at all: 503.
    for (const f of fs.readdirSync(t.home)) if (f.startsWith('monitor.db')) fs.rmSync(path.join(t.home, f));
    const none = await t.get(`${t.base}/api/monitor/stream`);
    expect(none.status).toBe(503);
    expect(JSON.parse(none.body).error).toMatch(/No monitor data available/);
    expect((await t.get(`${t.base}/api/monitor/snapshot`)).status).toBe(503);
  });

  it('snapshot route: 404 when the stored snapshots are older than a minute', async () => {
    const t = await setup({ start: false });
    const storage = new MonitorStorage(path.join(t.home, 'monitor.db'));
    const old = { timestamp: Date.now() / 1000 - 120, processes: [], daemon_rss_mb: 1, system_memory_used_mb: 1, load_avg_1: 0, daemon_cpu_percent: null };
    storage.writeSnapshot(old as never);
    const r = await t.get(`${t.base}/api/monitor/snapshot`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toMatch(/No recent snapshots found: the newest is 12\d s old/);
    // The stream still shows the last known state from storage.
    const sse = await t.sse(`${t.base}/api/monitor/stream?source=sqlite`);
    expect((await sse.waitFor((e) => e.event === 'snapshot')).data.timestamp).toBe(old.timestamp);
    sse.close();
  });
});

describe('conductor restart', () => {
  it('a live stream continues across the restart with no gap; Last-Event-ID resumes a reconnecting browser', async () => {
    const t = await setup();
    const live = await t.sse(`${t.base}/api/events?types=debug.`);
    const c1 = await DaemonClient.connect({ socketPath: t.conductor().socketPath, reconnect: false });
    const before = await c1.call('debug.emit', { count: 100 });
    await live.waitFor((e) => e.data?.seq === before.last_seq);
    await c1.close();
    // A second browser that saw the first 30 and then went away.
    const lastSeen = before.first_seq + 29;

    await t.conductor().stop();
    await live.waitFor((e) => e.event === 'conductor' && e.data.connected === false, 5000);
    await t.start();
    await live.waitFor((e) => e.event === 'conductor' && e.data.connected === true, 10_000);
    const c2 = await DaemonClient.connect({ socketPath: t.conductor().socketPath, reconnect: false });
    const after = await c2.call('debug.emit', { count: 100 });
    await live.waitFor((e) => e.data?.seq === after.last_seq, 10_000);
    await c2.close();
    const liveSeqs = live.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    const expected = [
      ...Array.from({ length: 100 }, (_, i) => before.first_seq + i),
      ...Array.from({ length: 100 }, (_, i) => after.first_seq + i),
    ];
    expect(liveSeqs).toEqual(expected);
    live.close();

    const resumed = await t.sse(`${t.base}/api/events?types=debug.`, { 'last-event-id': String(lastSeen) });
    await resumed.waitFor((e) => e.data?.seq === after.last_seq, 10_000);
    const resumedSeqs = resumed.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(resumedSeqs).toEqual(expected.filter((s) => s > lastSeen));
    resumed.close();
  });
});

describe('a browser that stops reading', () => {
  it('holds at most queueLimit events, is told it lagged, then gets every event from the log', async () => {
    const t = await setup({ queueLimit: 200 });
    const slow = await t.debugStream();
    slow.pause();
    const client = await DaemonClient.connect({ socketPath: t.conductor().socketPath, reconnect: false });
    // 20k events of 1 KB: 20 MB the stalled browser cannot take.
    let first = 0;
    let last = 0;
    let maxQueued = 0;
    for (let i = 0; i < 20; i++) {
      const r = await client.call('debug.emit', { count: 1000, size: 1024 });
      first ||= r.first_seq;
      last = r.last_seq;
      maxQueued = Math.max(maxQueued, t.dashboard.bridge.maxQueued());
    }
    await waitFor(() => (t.dashboard.bridge.lastSeq ?? 0) >= last, 10_000, 'bridge caught up');
    maxQueued = Math.max(maxQueued, t.dashboard.bridge.maxQueued());
    expect(maxQueued).toBeLessThanOrEqual(200);
    slow.resume();
    await slow.waitFor((e) => e.data?.seq === last, 30_000);
    const seqs = slow.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    // Every debug event, in order, exactly once (other events may sit between the batches).
    const expected: number[] = [];
    for (let since = first - 1; ; ) {
      const page = await client.call('events.read', { since, types: ['debug.'], limit: 1000 });
      expected.push(...page.events.map((e) => e.seq!).filter((s) => s <= last));
      if (!page.has_more || page.next_since >= last) break;
      since = page.next_since;
    }
    expect(expected).toHaveLength(20_000);
    expect(seqs).toEqual(expected);
    const lagged = slow.events.find((e) => e.event === 'lagged');
    expect(lagged?.data).toMatchObject({ reason: 'slow_consumer', reading_from_log: true });
    await client.close();
    slow.close();
  }, 60_000);
});

describe('the bridge itself falls behind', () => {
  it('the conductor reports the lag, and every stream reads the lost range from the log', async () => {
    const t = await setup({ bridgeMaxQueuedBytes: 65_536 });
    const sse = await t.debugStream();
    // The bridge follows the stream once a page wants it: live before the burst.
    await waitFor(() => t.dashboard.bridge.following, 10_000, 'bridge following');
    // spawnSync blocks this process (and so the bridge) while another process makes a
    // 4 MB burst: the conductor cannot hold it within the bridge's 64 KiB bound.
    const r = spawnSync(process.execPath, [CLI, 'call', 'debug.emit', JSON.stringify({ count: 4000, size: 1024 })], {
      env: { ...process.env, MZT_HOME: t.home },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const { first_seq, last_seq } = JSON.parse(r.stdout);
    await sse.waitFor((e) => e.data?.seq === last_seq, 20_000);
    const lagged = sse.events.find((e) => e.event === 'lagged');
    expect(lagged?.data.reason).toBe('bridge_lagged');
    const seqs = sse.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(seqs).toEqual(Array.from({ length: 4000 }, (_, i) => first_seq + i));
    sse.close();
  }, 60_000);
});

describe('the conductor is down', () => {
  it('job list → 503 naming it; a finished job’s log is still served from disk; unknown → 404', async () => {
    const t = await setup();
    const client = await DaemonClient.connect({ socketPath: t.conductor().socketPath, reconnect: false });
    const { job_id } = await client.call('job.submit', { sheets: [{ argv: ['sh', '-c', 'echo kept-on-disk'] }] });
    await waitFor(async () => (await client.call('job.get', { job_id })).status === 'completed', 10_000, 'completed');
    await client.close();
    await t.conductor().stop();
    await waitFor(() => !t.dashboard.bridge.connected, 5000, 'bridge down');

    const list = await t.get(`${t.base}/api/jobs`);
    expect(list.status).toBe(503);
    expect(JSON.parse(list.body).error).toMatch(/conductor is not running .*mzt conductor start/);
    expect((await t.get(`${t.base}/api/jobs/${job_id}/stream`)).status).toBe(503);

    const logs = await t.sse(`${t.base}/api/jobs/${job_id}/logs?follow=false`);
    await logs.ended;
    expect(logs.events.some((e) => e.event === 'log' && e.data.text === 'kept-on-disk')).toBe(true);
    expect(logs.events.at(-1)!.event).toBe('log_complete');
    const dl = await t.get(`${t.base}/api/jobs/${job_id}/logs/static`);
    expect(dl.status).toBe(200);
    expect(dl.body).toContain('kept-on-disk');

    const unknown = await t.get(`${t.base}/api/jobs/never-was/logs/info`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error).toMatch(/the conductor is not running, and there is no log for it/);
  });
});
