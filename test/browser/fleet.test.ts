/**
 * The dashboard's fleet view in a real browser (Debian's Chromium via playwright-core): two
 * real conductors on one real nats-server; conductor A's page lists both hosts with their
 * load, a job that ran on B, and B's events in the fleet timeline, which keeps updating while
 * the page is open; no sideways overflow at 1400 and 1024 px. A conductor not in a fleet hides
 * the view's link and says so. The link follows daemon.status's `fleet` (no fleet query for it)
 * and hides while the conductor is down. Screenshots go to test-output/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { DaemonClient } from '../../src/ipc/client.js';
import { waitFor } from '../helpers/conductorProcess.js';
import { useConductorSet } from '../helpers/conductorSet.js';
import { useNatsServer } from '../helpers/natsServer.js';
import { TEST_OUTPUT, launchChromium } from '../helpers/browser.js';

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
let a: DaemonClient;
let b: DaemonClient;
let urlA: string;
const LONG_NAME = `long-${'y'.repeat(195)}`;

async function start(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<DaemonClient> {
  return (await fleet.start({ config, env })).client;
}

async function completed(client: DaemonClient, name: string): Promise<string> {
  const { job_id } = await client.call('job.submit', { name, sheets: [{ argv: ['true'] }] });
  await waitFor(async () => (await client.call('job.get', { job_id })).status === 'completed', 10_000, `${name} completed`);
  return job_id;
}

/** Logs in with the one-time URL and returns the address without the token. */
async function login(p: Page, client: DaemonClient): Promise<string> {
  const loginUrl = (await client.call('daemon.status', {})).dashboard_url as string;
  await p.goto(loginUrl);
  return loginUrl.replace(/\?token=.*$/, '');
}

async function noSidewaysOverflow(p: Page): Promise<void> {
  const m = await p.evaluate(() => {
    const out = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && (el as HTMLElement).offsetParent !== null)
      .slice(0, 6)
      .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${String(el.className).replace(/ /g, '.')}`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, out };
  });
  expect(m.scrollWidth, JSON.stringify(m)).toBeLessThanOrEqual(m.innerWidth);
}

const nats = useNatsServer();
// Registered after NATS: its conductors stop before the server goes.
const fleet = useConductorSet();

beforeAll(async () => {
  fs.mkdirSync(TEST_OUTPUT, { recursive: true });
  browser = await launchChromium();
  const dashboard = { dashboard_enabled: true, dashboard_port: 0 };
  [a, b] = await Promise.all([
    start({ ...dashboard, fleet: { nats_url: nats.url, host: 'web-a' } }),
    start({ fleet: { nats_url: nats.url, host: 'web-b' } }, { MZT_DEBUG_METHODS: '1' }),
  ]);
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  urlA = await login(page, a);
}, 600_000);

afterAll(async () => {
  await browser?.close();
});

describe('dashboard: fleet view', () => {
  it("A's page lists both hosts, B's job and B's events; the timeline goes on live", async () => {
    const onB = await completed(b, LONG_NAME);
    await page.goto(`${urlA}#/fleet`);
    await expect.poll(() => page.isVisible('#nav-fleet'), { timeout: 10_000 }).toBe(true);
    // Both hosts, up (B's job shows with its next heartbeat: up to 5 s).
    await page.waitForSelector('#fleet-hosts tr[data-host="web-a"]', { timeout: 15_000 });
    await page.waitForSelector('#fleet-hosts tr[data-host="web-b"]', { timeout: 15_000 });
    const rowB = await page.textContent('#fleet-hosts tr[data-host="web-b"]');
    expect(rowB).toContain('up');
    expect(rowB).toMatch(/0 \/ \d+/); // slots: used / max
    expect(await page.textContent('#fleet-hosts tr[data-host="web-a"]')).toContain('(this one)');
    await page.waitForSelector(`#fleet-jobs tr[data-job="${onB}"][data-host="web-b"]`, { timeout: 20_000 });
    expect(await page.textContent(`#fleet-jobs tr[data-job="${onB}"]`)).toContain('completed');
    await page.waitForSelector('#fleet-timeline li[data-host="web-b"][data-type="job.completed"]', { timeout: 15_000 });

    // Live: a job run on B now appears in A's open page without a reload.
    const polls = await page.evaluate(() => (window as any).mztFleet.eventPolls);
    const later = await completed(b, 'later-on-b');
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('#fleet-timeline li[data-host="web-b"][data-type="job.completed"]')].some((li) => li.textContent!.includes(id)),
      later,
      { timeout: 15_000 },
    );
    expect(await page.evaluate(() => (window as any).mztFleet.eventPolls)).toBeGreaterThan(polls);
    const seqs = await page.$$eval('#fleet-timeline li', (lis) => lis.map((li) => Number(li.getAttribute('data-stream-seq'))));
    expect(seqs.length).toBeGreaterThan(5);
    expect(seqs.length).toBeLessThanOrEqual(500);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeLessThan(seqs[i - 1]!); // newest first, no repeat
    await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-fleet.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('keeps at most 500 events on screen, newest first, when 700 come at once', async () => {
    const { last_seq } = await b.call('debug.emit', { count: 700, size: 10, type: 'debug.flood' });
    // The newest of them reaches the page (B exports, A's page polls every 2 s).
    await page.waitForFunction(
      () => (window as any).mztFleet.events.some((f: any) => f.host === 'web-b' && f.event.type === 'debug.flood' && f.event.data.i === 699),
      undefined,
      { timeout: 20_000 },
    );
    await page.waitForTimeout(100); // its render
    const shown = await page.$$eval('#fleet-timeline li', (lis) => lis.map((li) => [li.getAttribute('data-host'), li.getAttribute('data-type'), li.textContent]));
    expect(shown).toHaveLength(500);
    expect(shown[0]![1]).toBe('debug.flood');
    expect(shown[0]![2]).toContain(`#${last_seq}`);
    await noSidewaysOverflow(page);
  }, 60_000);

  it('the API behind it: bounded pages, bad parameters refused by name', async () => {
    const get = async (route: string) => {
      const res = await page.request.get(`${urlA}${route}`);
      return { status: res.status(), body: await res.json() };
    };
    const page1 = await get('api/fleet/events?limit=500');
    expect(page1.status).toBe(200);
    expect(page1.body.events.length).toBeGreaterThan(0);
    expect(page1.body.events.length).toBeLessThanOrEqual(500);
    expect((await get('api/fleet/events?limit=2')).body.events).toHaveLength(2);
    for (const [query, name] of [['limit=501', 'limit'], ['limit=0', 'limit'], ['since_stream_seq=-1', 'since_stream_seq'], ['since_stream_seq=x', 'since_stream_seq']]) {
      const r = await get(`api/fleet/events?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error, query).toMatch(new RegExp(`^${name} must be an integer between`));
    }
    const since = await get(`api/fleet/events?since_stream_seq=${page1.body.last_stream_seq}`);
    expect(since.body.events.every((e: { stream_seq: number }) => e.stream_seq > page1.body.last_stream_seq)).toBe(true);
    const hosts = await get('api/fleet/hosts');
    expect(hosts.body.hosts.map((h: { host: string }) => h.host)).toEqual(['web-a', 'web-b']);
  });

  it('no sideways overflow at 1400 and 1024 px', async () => {
    for (const width of [1400, 1024]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(300);
      await noSidewaysOverflow(page);
      await page.screenshot({ path: path.join(TEST_OUTPUT, `dashboard-fleet-${width}.png`), fullPage: true });
    }
  });

  it('with NATS down the view says so and keeps what it had; it clears once NATS is back', async () => {
    await page.setViewportSize({ width: 1400, height: 1000 });
    await nats.stop();
    try {
      await expect.poll(() => page.isVisible('#fleet-error'), { timeout: 15_000 }).toBe(true);
      expect(await page.textContent('#fleet-error')).toMatch(/cannot be read now: .*not connected to the fleet's NATS server/);
      expect(await page.isVisible('#fleet-hosts tr[data-host="web-b"]')).toBe(true);
      await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-fleet-nats-down.png') });
    } finally {
      await nats.restart();
    }
    await expect.poll(() => page.isVisible('#fleet-error'), { timeout: 20_000 }).toBe(false);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('a conductor not in a fleet hides the link and says so at #/fleet', async () => {
    const solo = await start({ dashboard_enabled: true, dashboard_port: 0 });
    const other = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    try {
      const url = await login(other, solo);
      await other.goto(`${url}#/fleet`);
      await expect.poll(() => other.isVisible('#fleet-off'), { timeout: 10_000 }).toBe(true);
      expect(await other.textContent('#fleet-off')).toMatch(/not in a fleet/);
      expect(await other.isVisible('#nav-fleet')).toBe(false);
      expect(await other.isVisible('#fleet-hosts')).toBe(false);
      const api = await other.request.get(`${url}api/fleet/hosts`);
      expect(api.status()).toBe(200);
      expect(await api.json()).toMatchObject({ in_fleet: false, reason: 'not_in_fleet', message: expect.stringMatching(/not in a fleet/) });
    } finally {
      await other.close();
    }
  }, 60_000);

  it('the Fleet link comes from daemon.status without a fleet query, and hides while the conductor is down', async () => {
    // A dashboard of its own (`mzt dashboard serve`), so the page outlives its conductor.
    const config = { fleet: { nats_url: nats.url, host: 'web-c' } };
    const c = await fleet.start({ config });
    const dashboard = new DashboardServer({ home: c.home, port: 0 });
    await dashboard.start();
    const other = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    other.on('pageerror', (err) => pageErrors.push(err.message));
    const fleetQueries: string[] = [];
    other.on('request', (req) => {
      if (req.url().includes('/api/fleet/')) fleetQueries.push(req.url());
    });
    const linkShown = () => other.isVisible('#nav-fleet');
    try {
      await other.goto(`http://127.0.0.1:${dashboard.port}/?token=${dashboard.token}`);
      await expect.poll(linkShown, { timeout: 10_000 }).toBe(true);
      await other.waitForTimeout(500); // anything the page's start still sends
      expect(fleetQueries).toEqual([]);

      await c.conductor.stop();
      await expect.poll(() => other.textContent('#conn'), { timeout: 15_000 }).toBe('conductor down');
      expect(await linkShown()).toBe(false);
      // A page loaded while the conductor is down does not show it either.
      await other.reload();
      await expect.poll(() => other.textContent('#conn'), { timeout: 15_000 }).toBe('conductor down');
      await other.waitForTimeout(500);
      expect(await linkShown()).toBe(false);

      // Back with its fleet config: the link returns without a reload.
      await fleet.start({ home: c.home, config });
      await expect.poll(linkShown, { timeout: 20_000 }).toBe(true);
      expect(fleetQueries).toEqual([]);
      expect(pageErrors).toEqual([]);
    } finally {
      await other.close();
      await dashboard.stop();
    }
  }, 90_000);
});
