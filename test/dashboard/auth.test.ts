/**
 * Only the owner gets in: the conductor's own dashboard on its default loopback bind, tried by
 * a real second account on this machine (every route of the server's route table, so a new
 * route is covered without touching this file), the one-time login URL and its cookie, Bearer
 * for scripts, the 0600 token file, the explicit opt-out, and the per-client rate limit.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateToken } from '../../src/dashboard/auth.js';
import { RateLimiter } from '../../src/dashboard/rateLimit.js';
import { DASHBOARD_ROUTES, DashboardServer } from '../../src/dashboard/server.js';
import { makeHome, removeHome, useConductor, waitFor } from '../helpers/conductorProcess.js';
import { createSecondUser, type SecondUser } from '../helpers/secondUser.js';
import { httpGet, openSse } from '../helpers/sse.js';

const fixture = useConductor({ client: { reconnect: false }, config: { dashboard_enabled: true, dashboard_port: 0, profiler_interval_seconds: 0.3 } });
let base: string;
let token: string;
let jobId: string;
let other: SecondUser;

beforeAll(async () => {
  other = createSecondUser();
  const loginUrl: string = (await fixture.client.call('daemon.status', {})).dashboard_url;
  base = loginUrl.replace(/\/\?token=.*$/, '');
  token = fs.readFileSync(path.join(fixture.home, 'run', 'dashboard.token'), 'utf8').trim();
  expect(loginUrl).toBe(`${base}/?token=${token}`);
  ({ job_id: jobId } = await fixture.client.call('job.submit', { name: 'secret', sheets: [{ argv: ['sh', '-c', 'echo the-secret-output'] }] }));
  await waitFor(async () => (await fixture.client.call('job.get', { job_id: jobId })).status === 'completed', 15_000, 'job completed');
  // So that every route has something to answer the owner with (the snapshot route 503s before the first one).
  await waitFor(async () => (await httpGet(`${base}/api/monitor/snapshot`, { authorization: `Bearer ${token}` })).status === 200, 15_000, 'a snapshot');
});

afterAll(async () => {
  other?.remove();
});

/** Status of a GET; the body is not read, so an SSE route answers too. */
function statusOf(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject);
  });
}

describe('another account on this machine', () => {
  it('cannot read the token file and gets 401 on every route; the owner with the token gets 200', async () => {
    const paths = DASHBOARD_ROUTES.map((p) => p.replace('{id}', jobId));
    // Every template the server routes is listed, the job routes and the page included.
    expect(paths).toEqual(expect.arrayContaining(['/', '/app.js', '/metrics', '/api/events', '/api/jobs', `/api/jobs/${jobId}/logs/static`]));
    const tokenFile = path.join(fixture.home, 'run', 'dashboard.token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);

    const script = `
      import fs from 'node:fs';
      const out = { uid: process.getuid(), statuses: {} };
      try { fs.readFileSync(${JSON.stringify(tokenFile)}, 'utf8'); out.tokenFile = 'read'; } catch (err) { out.tokenFile = err.code; }
      const tries = { none: {}, guess: { authorization: 'Bearer ' + 'g'.repeat(32) }, cookie: { cookie: 'mzt_dashboard_${new URL(base).port}=guess' } };
      for (const p of ${JSON.stringify(paths)}) {
        for (const [name, headers] of Object.entries(tries)) {
          const ac = new AbortController();
          const res = await fetch(${JSON.stringify(base)} + p, { headers, signal: ac.signal, redirect: 'manual' });
          out.statuses[p + ' ' + name] = res.status;
          ac.abort();
        }
        const q = await fetch(${JSON.stringify(base)} + p + '?token=' + 'q'.repeat(32), { redirect: 'manual' });
        out.statuses[p + ' query'] = q.status;
        await q.body?.cancel();
      }
      console.log(JSON.stringify(out));`;
    const r = other.node(script, { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(seen.uid).toBe(other.uid);
    expect(seen.tokenFile).toBe('EACCES');
    const refused = Object.entries(seen.statuses as Record<string, number>);
    expect(refused).toHaveLength(paths.length * 4);
    expect(refused.filter(([, status]) => status !== 401)).toEqual([]);

    for (const p of paths) expect(await statusOf(`${base}${p}`, { authorization: `Bearer ${token}` }), p).toBe(200);
  });
});

describe('the owner', () => {
  it('logs in once with ?token=: 303 to the same URL without it, an HttpOnly SameSite=Strict cookie, then 200 by the cookie', async () => {
    const login = await httpGet(`${base}/api/jobs?limit=1&token=${token}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/api/jobs?limit=1');
    const cookie = login.headers['set-cookie']![0]!;
    expect(cookie).toMatch(/^mzt_dashboard_\d+=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(token);
    const pair = cookie.split(';')[0]!;
    const page = await httpGet(`${base}/api/jobs?limit=1`, { cookie: `other=1; ${pair}` });
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body).jobs[0].job_id).toBe(jobId);
    const sse = await openSse(`${base}/api/events?since=0&types=job.`, { cookie: pair });
    try {
      expect(sse.status).toBe(200);
      await sse.waitFor((e) => e.event === 'job.submitted');
    } finally {
      sse.close();
    }
  });

  it('a wrong token, header or cookie gets 401 that says how to get the URL and never echoes what was sent', async () => {
    const wrong = 'w'.repeat(16) + 'secret-guess';
    for (const headers of [{}, { authorization: `Bearer ${wrong}` }, { authorization: `Basic ${wrong}` }, { cookie: `mzt_dashboard_${new URL(base).port}=${wrong}` }]) {
      const r = await httpGet(`${base}/api/jobs`, headers);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(JSON.parse(r.body).error).toMatch(/run `mzt dashboard`/);
      expect(r.body).not.toContain(wrong);
    }
    const query = await httpGet(`${base}/?token=${wrong}`);
    expect(query.status).toBe(401);
    expect(query.headers['set-cookie']).toBeUndefined();
    expect(query.body).not.toContain(wrong);
    // A browser opening the page gets a short plain message.
    const page = await httpGet(`${base}/`, { accept: 'text/html,*/*' });
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toMatch(/^text\/plain/);
    expect(page.body).toMatch(/^401 Unauthorized: no token given\.\n.*mzt dashboard/);
    // The DNS-rebinding check still stands, token or not.
    expect((await httpGet(`${base}/api/jobs`, { host: 'attacker.example', authorization: `Bearer ${token}` })).status).toBe(403);
  });
});

describe('the token file', () => {
  it('is created 0600 whatever the umask, kept across restarts, and replaced when others could have read it', () => {
    const home = makeHome();
    const oldMask = process.umask(0);
    try {
      const file = path.join(home, 'run', 'dashboard.token');
      const first = loadOrCreateToken(file);
      expect(first).toMatch(/^[\w-]{32}$/);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      expect(loadOrCreateToken(file)).toBe(first);
      fs.chmodSync(file, 0o644);
      const second = loadOrCreateToken(file);
      expect(second).not.toBe(first);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      fs.writeFileSync(file, 'short\n');
      expect(loadOrCreateToken(file)).not.toBe('short');
    } finally {
      process.umask(oldMask);
      removeHome(home);
    }
  });
});

describe('other binds and the opt-out', () => {
  it('a non-loopback bind uses the same token, from the same file', async () => {
    const open = new DashboardServer({ home: fixture.home, host: '0.0.0.0', port: 0 });
    await open.start();
    try {
      expect(open.token).toBe(token);
      expect(open.url).toBe(`http://0.0.0.0:${open.port}/?token=${token}`);
      expect((await httpGet(`http://127.0.0.1:${open.port}/metrics`)).status).toBe(401);
      expect((await httpGet(`http://127.0.0.1:${open.port}/metrics`, { authorization: `Bearer ${token}` })).status).toBe(200);
    } finally {
      await open.stop();
    }
  });

  it('auth "none" answers without a token and warns at start; only on loopback', async () => {
    const lines: string[] = [];
    const none = new DashboardServer({ home: fixture.home, port: 0, auth: 'none', log: (l) => lines.push(l) });
    await none.start();
    try {
      expect(lines.join('\n')).toMatch(/WARNING dashboard_auth is "none": every account on this machine can read/);
      expect(none.url).toBe(`http://127.0.0.1:${none.port}/`);
      // 503 until its bridge has reached the conductor (slow on a loaded machine); never 401.
      const answer = await waitFor(async () => {
        const r = await httpGet(`http://127.0.0.1:${none.port}/api/jobs`);
        return r.status === 503 ? undefined : r;
      }, 15_000, 'the opt-out dashboard to reach the conductor');
      expect(answer.status).toBe(200);
    } finally {
      await none.stop();
    }
    expect(() => new DashboardServer({ home: fixture.home, host: '0.0.0.0', port: 0, auth: 'none' })).toThrow(/allowed only on a loopback address/);
  });
});

describe('rate limit', () => {
  it('429 with Retry-After past the burst; a flood without the token leaves the owner a bucket of its own', async () => {
    // A refill so slow that none arrives during the test, however loaded the machine.
    const limited = new DashboardServer({ home: fixture.home, port: 0, rateLimit: { burst: 5, perSecond: 0.001 } });
    await limited.start();
    try {
      const url = `http://127.0.0.1:${limited.port}/api/jobs`;
      const flood = await Promise.all(Array.from({ length: 40 }, () => httpGet(url)));
      expect(flood.filter((r) => r.status === 401)).toHaveLength(5);
      const tooMany = flood.filter((r) => r.status === 429);
      expect(tooMany).toHaveLength(35);
      for (const r of tooMany) {
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(JSON.parse(r.body).error).toMatch(/too many requests: at most 5 at once/);
      }
      const auth = { authorization: `Bearer ${token}` };
      const owner = await Promise.all(Array.from({ length: 8 }, () => httpGet(url, auth)));
      expect(owner.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    } finally {
      await limited.stop();
    }
  });

  it('an SSE stream counts once, when it is opened, however long it runs', async () => {
    const limited = new DashboardServer({ home: fixture.home, port: 0, heartbeatMs: 50, rateLimit: { burst: 3, perSecond: 0.001 } });
    await limited.start();
    const b = `http://127.0.0.1:${limited.port}`;
    const auth = { authorization: `Bearer ${token}` };
    const sse = await openSse(`${b}/api/events`, auth);
    try {
      expect(sse.status).toBe(200);
      await sse.waitFor((e) => e.event === 'heartbeat');
      await sse.waitFor((e) => e.event === 'heartbeat', 10_000, sse.events.findIndex((e) => e.event === 'heartbeat') + 1);
      expect((await httpGet(`${b}/api/jobs`, auth)).status).toBe(200);
      expect((await httpGet(`${b}/api/jobs`, auth)).status).toBe(200);
      expect((await httpGet(`${b}/api/jobs`, auth)).status).toBe(429);
    } finally {
      sse.close();
      await limited.stop();
    }
  });

  it('tracks at most maxClients clients (the least recently seen are forgotten) and refills at its rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 2, perSecond: 1, maxClients: 100, now: () => now });
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`10.0.${i >> 8}.${i & 255} -`);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
    expect(limiter.take('owner token')).toEqual({ ok: true });
    expect(limiter.take('owner token')).toEqual({ ok: true });
    expect(limiter.take('owner token')).toEqual({ ok: false, retryAfterSeconds: 1 });
    now += 1000;
    expect(limiter.take('owner token')).toEqual({ ok: true });
    expect(limiter.size).toBe(100);
    expect(() => new RateLimiter({ burst: 0 })).toThrow(/burst must be ≥ 1/);
  });
});
