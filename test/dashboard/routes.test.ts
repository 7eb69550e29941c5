/**
 * Dashboard HTTP routes against a real conductor (real socket, SQLite, child processes) and a
 * real DashboardServer on a loopback port: status codes, validation, SSE framing, job streams,
 * log tail/follow/resume, downloads, heartbeats, bridge_stopped and the SSE limit.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { httpGet, openSse } from '../helpers/sse.js';

const fixture = useConductor({ client: { reconnect: false }, env: { MZT_DEBUG_METHODS: '1' }, config: { profiler_interval_seconds: 0.5 } });
let dashboard: DashboardServer;
let base: string;

beforeAll(async () => {
  // No rate limit to speak of: these tests make hundreds of requests (auth.test.ts tests the limit).
  dashboard = new DashboardServer({ home: fixture.home, port: 0, heartbeatMs: 300, logPollMs: 50, maxSseClients: 8, rateLimit: { burst: 100_000 } });
  await dashboard.start();
  base = `http://127.0.0.1:${dashboard.port}`;
  await waitFor(() => dashboard.bridge.connected, 10_000, 'bridge connected');
});

afterAll(async () => {
  await dashboard?.stop();
});

// Every route needs the token; the dashboards here share the one kept in the fixture's home.
const authed = (headers: Record<string, string> = {}) => ({ authorization: `Bearer ${dashboard.token}`, ...headers });
const authGet = (url: string, headers?: Record<string, string>) => httpGet(url, authed(headers));
const authSse = (url: string, headers?: Record<string, string>) => openSse(url, authed(headers));

async function runJob(script: string, name = 'job'): Promise<string> {
  const { job_id } = await fixture.client.call('job.submit', { name, sheets: [{ argv: ['sh', '-c', script] }] });
  return job_id;
}

async function waitJobEnd(jobId: string): Promise<void> {
  await waitFor(async () => ['completed', 'failed', 'cancelled'].includes((await fixture.client.call('job.get', { job_id: jobId })).status), 15_000, `job ${jobId} to end`);
}

describe('monitor routes', () => {
  it('rejects a bad source or poll interval with 400 and a message naming it', async () => {
    const bad = await authGet(`${base}/api/monitor/stream?source=bogus`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/Invalid source: "bogus"/);
    for (const v of ['0.1', '31', 'abc']) {
      const r = await authGet(`${base}/api/monitor/stream?poll_interval=${v}`);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error).toMatch(/poll_interval must be a number between 0.5 and 30/);
    }
  });

  it('streams live snapshots from the conductor, with SSE headers', async () => {
    const sse = await authSse(`${base}/api/monitor/stream?poll_interval=0.5`);
    try {
      expect(sse.status).toBe(200);
      expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(sse.headers['cache-control']).toBe('no-cache');
      expect((await sse.waitFor((e) => e.event === 'connected')).data).toEqual({ source: 'daemon' });
      const first = await sse.waitFor((e) => e.event === 'snapshot');
      expect(first.data.daemon_pid).toBe(fixture.conductor.pid);
      expect(Array.isArray(first.data.processes)).toBe(true);
      // A second, newer one: the stream is live, not a one-shot.
      const second = await sse.waitFor((e) => e.event === 'snapshot' && e.data.timestamp > first.data.timestamp, 5000);
      expect(second.data.timestamp).toBeGreaterThan(first.data.timestamp);
    } finally {
      sse.close();
    }
  });

  it('GET /api/monitor/history: stored snapshots for the charts; 400 on bad params', async () => {
    const r = await authGet(`${base}/api/monitor/history?limit=5`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.resolution).toBe('full');
    expect(body.snapshots.length).toBeGreaterThan(0);
    expect(body.snapshots.length).toBeLessThanOrEqual(5);
    expect((await authGet(`${base}/api/monitor/history?resolution=hourly`)).status).toBe(400);
    expect((await authGet(`${base}/api/monitor/history?limit=0`)).status).toBe(400);
  });

  it('GET /api/monitor/snapshot answers from the conductor', async () => {
    const r = await authGet(`${base}/api/monitor/snapshot`);
    expect(r.status).toBe(200);
    expect(r.headers['x-mzt-source']).toBe('daemon');
    expect(JSON.parse(r.body).daemon_pid).toBe(fixture.conductor.pid);
  });
});

describe('job routes', () => {
  it('validates job ids before touching the filesystem (path traversal → 400)', async () => {
    const attempts = ['..', '.', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%2F', 'a%00b', 'x'.repeat(65), '%E0%A4%A', 'a%20b'];
    for (const id of attempts) {
      for (const suffix of ['', '/stream', '/logs', '/logs/static', '/logs/info']) {
        const r = await authGet(`${base}/api/jobs/${id}${suffix}`);
        expect(r.status, `${id}${suffix}`).toBe(400);
        expect(JSON.parse(r.body).error).toMatch(/invalid job id/);
      }
    }
    // A slash in the raw path is simply no route.
    expect((await authGet(`${base}/api/jobs/../../etc/passwd`)).status).toBe(404);
  });

  it('404 for an unknown job on every job route', async () => {
    for (const suffix of ['', '/stream', '/logs', '/logs/static', '/logs/info']) {
      const r = await authGet(`${base}/api/jobs/no-such-job${suffix}`);
      expect(r.status, suffix).toBe(404);
      expect(JSON.parse(r.body).error).toMatch(/job not found: no-such-job/);
    }
  });

  it('400 for out-of-range tail_lines, follow and poll_interval', async () => {
    const id = await runJob('echo x');
    await waitJobEnd(id);
    expect((await authGet(`${base}/api/jobs/${id}/logs?tail_lines=1001`)).status).toBe(400);
    expect(JSON.parse((await authGet(`${base}/api/jobs/${id}/logs?tail_lines=-1`)).body).error).toMatch(/tail_lines must be an integer between 0 and 1000/);
    expect((await authGet(`${base}/api/jobs/${id}/logs?follow=maybe`)).status).toBe(400);
    expect((await authGet(`${base}/api/jobs/${id}/stream?poll_interval=0.01`)).status).toBe(400);
    expect((await authGet(`${base}/api/jobs/${id}/stream?poll_interval=31`)).status).toBe(400);
  });

  it('lists jobs and shows one', async () => {
    const id = await runJob('echo listed', 'listed');
    const list = JSON.parse((await authGet(`${base}/api/jobs`)).body);
    expect(list.jobs.map((j: { job_id: string }) => j.job_id)).toContain(id);
    const one = JSON.parse((await authGet(`${base}/api/jobs/${id}`)).body);
    expect(one).toMatchObject({ job_id: id, name: 'listed' });
  });

  it('streams a job: events with seq ids, job_status, job_finished, then ends', async () => {
    const id = await runJob('echo one; sleep 0.3; echo two');
    const sse = await authSse(`${base}/api/jobs/${id}/stream?poll_interval=0.1`);
    await sse.ended;
    const names = sse.events.map((e) => e.event);
    expect(names[0]).toBe('job_status');
    expect(names).toContain('job.submitted');
    expect(names).toContain('job.completed');
    expect(names.at(-1)).toBe('job_finished');
    expect(sse.events.at(-1)!.data).toMatchObject({ job_id: id, final_status: 'completed' });
    const durable = sse.events.filter((e) => e.id !== undefined);
    for (const e of durable) expect(Number(e.id)).toBe(e.data.seq);
    const seqs = durable.map((e) => e.data.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    // Exactly the job's events, as the log has them.
    const fromLog = await fixture.client.call('events.read', { since: 0, job_id: id, limit: 1000 });
    expect(seqs).toEqual(fromLog.events.map((e) => e.seq));
  });

  it('a job stream resumed with Last-Event-ID sends only what follows', async () => {
    const id = await runJob('echo a');
    await waitJobEnd(id);
    const { events } = await fixture.client.call('events.read', { since: 0, job_id: id, limit: 1000 });
    const mid = events[1]!.seq;
    const sse = await authSse(`${base}/api/jobs/${id}/stream`, { 'last-event-id': String(mid) });
    await sse.ended;
    const seqs = sse.events.filter((e) => e.id !== undefined).map((e) => e.data.seq);
    expect(seqs).toEqual(events.filter((e) => e.seq > mid).map((e) => e.seq));
  });

  it('log SSE: tail, live follow, log_complete; byte-offset ids resume', async () => {
    const id = await runJob('for i in 1 2 3 4 5; do echo line-$i; sleep 0.2; done');
    const sse = await authSse(`${base}/api/jobs/${id}/logs?tail_lines=100&follow=true`);
    // Lines arrive while the job still runs.
    await sse.waitFor((e) => e.event === 'log' && e.data.text === 'line-1', 5000);
    expect((await fixture.client.call('job.get', { job_id: id })).status).toBe('running');
    await sse.waitFor((e) => e.event === 'log_complete', 10_000);
    const lines = sse.events.filter((e) => e.event === 'log').map((e) => e.data);
    expect(lines.filter((l) => l.stream === 'out').map((l) => l.text)).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5']);
    expect(lines.at(-1)!.stream).toBe('sys'); // the conductor's end marker
    // Ids are byte offsets: resuming after line-3 gives line-4 onwards.
    const after3 = sse.events.find((e) => e.event === 'log' && e.data.text === 'line-3')!;
    expect(Number(after3.id)).toBe(after3.data.offset);
    const resumed = await authSse(`${base}/api/jobs/${id}/logs`, { 'last-event-id': after3.id! });
    await resumed.waitFor((e) => e.event === 'log_complete');
    const texts = resumed.events.filter((e) => e.event === 'log' && e.data.stream === 'out').map((e) => e.data.text);
    expect(texts).toEqual(['line-4', 'line-5']);
    // tail_lines bounds the initial part; follow=false completes at once.
    const tail = await authSse(`${base}/api/jobs/${id}/logs?tail_lines=2&follow=false`);
    await tail.ended;
    expect(tail.events.filter((e) => e.event === 'log')).toHaveLength(2);
    expect(tail.events.at(-1)!.event).toBe('log_complete');
  });

  it('download has a header and the whole log; info counts lines; over 50 MB → 413', async () => {
    const id = await runJob('echo alpha; echo beta >&2');
    await waitJobEnd(id);
    const dl = await authGet(`${base}/api/jobs/${id}/logs/static`);
    expect(dl.status).toBe(200);
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="mzt-${id}-logs.txt"`);
    expect(dl.body).toMatch(new RegExp(`^# mzt job log — job ${id}\\n`));
    expect(dl.body).toMatch(/ 1 out alpha\n/);
    expect(dl.body).toMatch(/ 1 err beta\n/);
    const info = JSON.parse((await authGet(`${base}/api/jobs/${id}/logs/info`)).body);
    const file = path.join(fixture.home, 'jobs', id, 'output.log');
    expect(info).toMatchObject({ job_id: id, log_file: 'output.log', size_bytes: fs.statSync(file).size, lines: 4, status: 'completed' });
    expect(Date.parse(info.last_modified)).toBeGreaterThan(0);
    // A log over the cap (sparse file: 51 MB without writing them).
    fs.truncateSync(file, 51 * 1024 * 1024);
    const big = await authGet(`${base}/api/jobs/${id}/logs/static`);
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).error).toMatch(/Log file too large for download: 51\.0 MB \(limit 50 MB\)/);
  });
});

describe('event stream, heartbeats, limits', () => {
  it('/api/events resumes from Last-Event-ID without gaps', async () => {
    const { first_seq, last_seq } = await fixture.client.call('debug.emit', { count: 50 });
    const sse = await authSse(`${base}/api/events?types=debug.`, { 'last-event-id': String(first_seq + 9) });
    await sse.waitFor((e) => e.data?.seq === last_seq);
    const seqs = sse.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => first_seq + 10 + i));
    sse.close();
  });

  it('sends heartbeats when idle', async () => {
    const sse = await authSse(`${base}/api/events?types=nothing.matches.`);
    const hb = await sse.waitFor((e) => e.event === 'heartbeat', 3000);
    expect(hb.data.connected).toBe(true);
    sse.close();
  });

  it('rejects a bad Last-Event-ID and an unknown route', async () => {
    const r = await authGet(`${base}/api/events`, { 'last-event-id': 'abc' });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatch(/Last-Event-ID/);
    expect((await authGet(`${base}/api/nope`)).status).toBe(404);
  });

  it('refuses streams beyond the limit with 503 and frees the slots when they close', async () => {
    const open = [];
    while (open.length < 8) open.push(await authSse(`${base}/api/events`));
    expect(open.map((s) => s.status)).toEqual(Array(8).fill(200));
    const refused = await authGet(`${base}/api/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body).error).toMatch(/too many live streams open \(limit 8\)/);
    for (const s of open) s.close();
    await waitFor(async () => (await authGet(`${base}/api/status`)).body.includes('"sse_clients":0'), 5000, 'slots freed');
    const again = await authSse(`${base}/api/events`);
    expect(again.status).toBe(200);
    again.close();
  });

  it('is read-only and checks the Host header', async () => {
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/api/jobs`, { method: 'POST', headers: authed() }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(post).toBe(405);
    expect((await authGet(`${base}/api/jobs`, { host: 'attacker.example:80' })).status).toBe(403);
  });
});

describe('stopping the dashboard', () => {
  it('sends bridge_stopped to every open stream', async () => {
    const own = new DashboardServer({ home: fixture.home, port: 0, heartbeatMs: 300 });
    await own.start();
    await waitFor(() => own.bridge.connected, 10_000, 'bridge connected');
    const b = `http://127.0.0.1:${own.port}`;
    const id = await runJob('sleep 5');
    const streams = await Promise.all([authSse(`${b}/api/events`), authSse(`${b}/api/monitor/stream`), authSse(`${b}/api/jobs/${id}/stream`)]);
    await streams[1]!.waitFor((e) => e.event === 'connected');
    await streams[2]!.waitFor((e) => e.event === 'job_status');
    await own.stop();
    for (const s of streams) {
      await s.ended;
      expect(s.events.at(-1)!.event).toBe('bridge_stopped');
    }
    await fixture.client.call('job.cancel', { job_id: id });
  });
});
