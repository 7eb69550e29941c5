/**
 * `fleet.hosts` and `fleet.events` on the socket, against a real nats-server and real
 * conductors: conductor A answers for the whole fleet (B's host entry, B's job, B's events)
 * through its fleet worker; the limit bound, `since_stream_seq` and `skipped`, the size bound of
 * one event; NOT_AVAILABLE without `fleet` and, at once, while NATS is down; with NATS frozen a
 * query gives up after 4 s and at most 32 wait at once; a host without heartbeat turns stale.
 */
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { validateResult } from '../../src/ipc/schema.js';
import { waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { useConductorSet } from '../helpers/conductorSet.js';
import { useNatsServer } from '../helpers/natsServer.js';
import { rpcError } from '../helpers/jobs.js';

let a: DaemonClient;
let b: DaemonClient;
let local: DaemonClient;

const byHost = new Map<string, RunningConductor>();

const nats = useNatsServer();
// Registered after NATS: its conductors stop before the server goes.
const fleet = useConductorSet();

async function start(config: Record<string, unknown>): Promise<DaemonClient> {
  const { conductor, client } = await fleet.start({ env: { MZT_DEBUG_METHODS: '1' }, config });
  byHost.set((config.fleet as { host?: string } | undefined)?.host ?? 'local', conductor);
  return client;
}

beforeAll(async () => {
  [a, b, local] = await Promise.all([
    start({ fleet: { nats_url: nats.url, host: 'fm-a' } }),
    start({ fleet: { nats_url: nats.url, host: 'fm-b' } }),
    start({}),
  ]);
  // Queries while a worker is still connecting answer nats_unreachable (tested below).
  for (const c of [a, b]) await waitFor(async () => (await c.call('daemon.status', {})).fleet?.connected, 15_000, 'connected to NATS');
}, 120_000);

async function caughtUp(client: DaemonClient): Promise<number> {
  return waitFor(async () => {
    const s = await client.call('daemon.status', {});
    return s.fleet?.export.exported_seq === s.head_seq ? s.head_seq : undefined;
  }, 30_000, 'export caught up');
}

describe('fleet.hosts and fleet.events', () => {
  it('without config fleet: NOT_AVAILABLE, reason not_in_fleet, saying what is missing', async () => {
    for (const method of ['fleet.hosts', 'fleet.events'] as const) {
      const err = await rpcError(local.call(method, {}));
      expect(err.code).toBe(ErrorCode.NOT_AVAILABLE);
      expect(err.data).toEqual({ reason: 'not_in_fleet' });
      expect(err.message).toMatch(/not in a fleet.*"fleet"/);
    }
  });

  it('A lists both hosts, up, with their load, and the job that ran on B', async () => {
    const job = await b.call('job.submit', { name: 'ran-on-b', sheets: [{ argv: ['true'] }] });
    await waitFor(async () => (await b.call('job.get', { job_id: job.job_id })).status === 'completed', 10_000, 'job completed');
    // The host table is refreshed every 5 s (the job's status comes with B's next heartbeat).
    const answer = await waitFor(async () => {
      const r = await a.call('fleet.hosts', {});
      const onB = r.hosts.find((h) => h.host === 'fm-b')?.jobs.find((j) => j.job_id === job.job_id);
      return onB?.status === 'completed' && r.hosts.some((h) => h.host === 'fm-a') ? r : undefined;
    }, 20_000, "B's completed job in A's fleet.hosts");
    expect(validateResult('fleet.hosts', answer)).toMatchObject({ ok: true });
    expect(answer.hosts.map((h) => h.host)).toEqual(['fm-a', 'fm-b']);
    for (const h of answer.hosts) {
      expect(h.state).toBe('up');
      expect(h.accepting_work).toBe(true);
      expect(h.export_lag_events).toEqual(expect.any(Number));
      expect(h.max_concurrent_jobs).toBeGreaterThan(0);
    }
    expect(answer.hosts[1]!.jobs[0]).toMatchObject({ job_id: job.job_id, name: 'ran-on-b', status: 'completed' });
  }, 60_000);

  it('events: newest first, at most limit (500), limit 501 refused by name; since_stream_seq pages on, skipped counts what was left out', async () => {
    await b.call('debug.emit', { count: 700, size: 10, type: 'debug.fleetview' });
    await caughtUp(b);
    const t0 = performance.now();
    const page = await a.call('fleet.events', { limit: 500 });
    const eventsMs = performance.now() - t0;
    const t1 = performance.now();
    await a.call('fleet.hosts', {});
    console.log(`fleet.events limit 500: ${eventsMs.toFixed(0)} ms; fleet.hosts (2 hosts): ${(performance.now() - t1).toFixed(0)} ms (socket → worker → NATS and back)`);
    const checked = validateResult('fleet.events', page);
    expect(checked, JSON.stringify(checked).slice(0, 300)).toMatchObject({ ok: true });
    expect(page.events).toHaveLength(500);
    expect(page.events[0]!.stream_seq).toBe(page.last_stream_seq);
    for (let i = 1; i < page.events.length; i++) expect(page.events[i]!.stream_seq).toBe(page.events[i - 1]!.stream_seq - 1);
    expect(page.events[0]).toMatchObject({ host: 'fm-b', event: { type: 'debug.fleetview', data: { i: 699 } } });
    expect((await a.call('fleet.events', {})).events).toHaveLength(100); // the default

    for (const limit of [501, 0]) {
      const err = await rpcError(a.call('fleet.events', { limit }));
      expect(err.code).toBe(ErrorCode.INVALID_PARAMS);
      expect(err.data).toMatchObject({ field: 'limit' });
    }
    const bad = await rpcError(a.call('fleet.events', { since_stream_seq: -1 } as never));
    expect(bad.data).toMatchObject({ field: 'since_stream_seq' });

    // More than limit after since: the newest limit of them, the older ones counted.
    const behind = await a.call('fleet.events', { since_stream_seq: page.last_stream_seq - 600, limit: 500 });
    expect(behind.events).toHaveLength(500);
    expect(behind.skipped).toBe(100);
    expect(behind.events.at(-1)!.stream_seq).toBe(page.last_stream_seq - 499);

    // Polling on: only what came after.
    await b.call('debug.emit', { count: 3, size: 10, type: 'debug.after' });
    const next = await waitFor(async () => {
      const r = await a.call('fleet.events', { since_stream_seq: page.last_stream_seq, limit: 500 });
      return r.events.length >= 3 ? r : undefined;
    }, 20_000, 'the 3 new events');
    expect(next.skipped).toBe(0);
    expect(next.events.every((e) => e.stream_seq > page.last_stream_seq && e.host === 'fm-b')).toBe(true);
    expect(next.events.map((e) => e.event.type)).toEqual(['debug.after', 'debug.after', 'debug.after']);
    expect((await a.call('fleet.events', { since_stream_seq: next.last_stream_seq })).events).toEqual([]);
    // A since past the end (the stream was made anew since): the newest ones again.
    const anew = await a.call('fleet.events', { since_stream_seq: next.last_stream_seq + 1_000_000, limit: 3 });
    expect(anew.events.map((e) => e.stream_seq)).toEqual([next.last_stream_seq, next.last_stream_seq - 1, next.last_stream_seq - 2]);
  }, 90_000);

  it('an event stored above 4096 bytes comes as a stub with its size', async () => {
    await b.call('debug.emit', { count: 1, size: 10_000, type: 'debug.big' });
    await caughtUp(b);
    const r = await waitFor(async () => {
      const p = await a.call('fleet.events', { limit: 5 });
      return p.events.find((e) => e.event.type === 'debug.big');
    }, 20_000, 'the big event');
    expect(r.event.data).toEqual({ view_truncated: true, bytes: expect.any(Number) });
    expect((r.event.data as { bytes: number }).bytes).toBeGreaterThan(10_000);
    expect(r.event.seq).toBeGreaterThan(0);
  }, 60_000);

  it('while NATS is down: NOT_AVAILABLE nats_unreachable at once; answers again once it is back', async () => {
    await nats.stop();
    try {
      await waitFor(async () => (await a.call('daemon.status', {})).fleet?.connected === false, 10_000, 'A disconnected');
      const t0 = Date.now();
      const err = await rpcError(a.call('fleet.hosts', {}));
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(err.code).toBe(ErrorCode.NOT_AVAILABLE);
      expect(err.data).toEqual({ reason: 'nats_unreachable' });
      expect(err.message).toContain(nats.url);
    } finally {
      await nats.restart();
    }
    await waitFor(async () => (await a.call('fleet.hosts', {}).catch(() => undefined))?.hosts.length === 2, 30_000, 'fleet.hosts answers again');
  }, 60_000);

  it('with NATS frozen (SIGSTOP): a query fails after 4 s saying so, and at most 32 wait at once (the rest refused at once)', async () => {
    nats.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      const settled = await Promise.all(
        Array.from({ length: 40 }, () =>
          a.call('fleet.hosts', {}, { timeoutMs: 20_000 }).then(
            () => ({ ms: Date.now() - t0, error: undefined as RpcError | undefined }),
            (error: RpcError) => ({ ms: Date.now() - t0, error }),
          ),
        ),
      );
      const refused = settled.filter((r) => /too many fleet queries in flight \(limit 32\)/.test(r.error?.message ?? ''));
      const timedOut = settled.filter((r) => /NATS did not answer within 4000 ms/.test(r.error?.message ?? ''));
      expect(refused).toHaveLength(8);
      expect(timedOut).toHaveLength(32);
      for (const r of refused) expect(r.ms).toBeLessThan(1000);
      for (const r of timedOut) {
        expect(r.ms).toBeGreaterThanOrEqual(3900);
        expect(r.ms).toBeLessThan(8000);
        expect(r.error!.data).toEqual({ reason: 'failed' });
      }
    } finally {
      nats.proc.kill('SIGCONT');
    }
    await waitFor(async () => (await a.call('fleet.hosts', {}).catch(() => undefined))?.hosts.length === 2, 30_000, 'fleet.hosts answers again');
  }, 60_000);

  it('a host that stopped heartbeating (kill -9) is shown stale once 15 s passed without its heartbeat; the others stay up', async () => {
    // B heartbeated lately (the test before froze NATS: its entry may be old right now).
    await waitFor(async () => {
      const b = (await a.call('fleet.hosts', {}).catch(() => undefined))?.hosts.find((h: { host: string }) => h.host === 'fm-b');
      return b?.state === 'up' && b.age_seconds < 6;
    }, 30_000, 'B heartbeating');
    const t0 = Date.now();
    await byHost.get('fm-b')!.kill9();
    // Asked once a second, as a page would (every 3 s).
    const row = await waitFor(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      return (await a.call('fleet.hosts', {})).hosts.find((h) => h.host === 'fm-b' && h.state === 'stale');
    }, 30_000, 'B stale');
    expect(row.age_seconds).toBeGreaterThanOrEqual(15); // stale from 15 s on (rounded ages read 15)
    expect(Date.now() - t0).toBeGreaterThan(8000); // not stale at once: it had heartbeated within 5 s (so about 10 s at least)
    expect((await a.call('fleet.hosts', {})).hosts.find((h) => h.host === 'fm-a')?.state).toBe('up');
  }, 60_000);

  it('answers at most 200 hosts (truncated), 50 jobs each, and skips an entry that is not JSON', async () => {
    // Entries written straight into the host table, as many conductors' would be (the last test: they stay until their TTL).
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open('mzt_hosts');
      const fake = (host: string, jobs: number) => JSON.stringify({
        host, instance: host, machine_id: 'test', home: '/nowhere', pid: 1, version: '0.0.0', started_at: 1, max_concurrent_jobs: 4,
        running_jobs: 0, queued_jobs: 0, paused_jobs: 0, accepting_work: true, pressure_level: 'none', head_seq: 10,
        jobs: Array.from({ length: jobs }, (_, i) => ({ job_id: `${host}-j${i}`, name: 'x', status: 'completed', submitted_at: 1, ended_at: 2 })),
        last_seen: Date.now() / 1000, export: { exported_seq: 10 },
      });
      await kv.put('a-bad', 'not json');
      await kv.put('a-many-jobs', fake('a-many-jobs', 80));
      for (let i = 0; i < 205; i++) await kv.put(`zz-fake-${String(i).padStart(3, '0')}`, fake(`zz-fake-${i}`, 1));
    } finally {
      await nc.close();
    }
    const r = await a.call('fleet.hosts', {});
    expect(r.truncated).toBe(true);
    expect(r.hosts.length).toBeLessThanOrEqual(200);
    expect(r.hosts.length).toBeGreaterThanOrEqual(197); // 200 names read, the bad one skipped, B's may expire meanwhile
    expect(r.hosts.some((h) => h.host === 'a-bad')).toBe(false);
    const many = r.hosts.find((h) => h.host === 'a-many-jobs')!;
    expect(many.jobs).toHaveLength(50);
    expect(many.export_lag_events).toBe(0);
    expect(validateResult('fleet.hosts', r)).toMatchObject({ ok: true });
  }, 60_000);
});
