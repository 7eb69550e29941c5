/**
 * The web page in a real browser (Debian's Chromium, headless, via playwright-core) against
 * a real conductor serving its own dashboard: a live snapshot appears, a job submitted with the
 * CLI shows its status change and its log lines live, and the delay from an event's commit to
 * its arrival in the page is measured (printed and saved, not asserted: machines are noisy).
 * Screenshots go to test-output/.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, useConductor } from '../helpers/conductorProcess.js';
import { TEST_OUTPUT, launchChromium } from '../helpers/browser.js';

// No GPU here: a fake nvidia-smi on the conductor's PATH reports one (so the GPU card shows).
const fakeBin = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-fake-gpu-'));
fs.writeFileSync(path.join(fakeBin, 'nvidia-smi'), '#!/bin/sh\ncase "$1" in --query-compute-apps*) ;; *) echo "0, Fake GPU, 42, 1024, 16384, 61" ;; esac\n');
fs.chmodSync(path.join(fakeBin, 'nvidia-smi'), 0o755);

const fixture = useConductor({
  client: { reconnect: false },
  env: { MZT_DEBUG_METHODS: '1', PATH: `${fakeBin}:${process.env.PATH}` },
  config: { dashboard_enabled: true, dashboard_port: 0, profiler_interval_seconds: 0.5, max_processes: 2000 },
});
let browser: Browser;
let page: Page;
/** The dashboard's address without the token: after the one login, the page works by its cookie. */
let url: string;
let loginUrl: string;

beforeAll(async () => {
  fs.mkdirSync(TEST_OUTPUT, { recursive: true });
  browser = await launchChromium();
  loginUrl = (await fixture.client.call('daemon.status', {})).dashboard_url;
  url = loginUrl.replace(/\?token=.*$/, '');
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => {
    throw err;
  });
}, 600_000);

afterAll(async () => {
  fs.rmSync(fakeBin, { recursive: true, force: true });
  await browser?.close();
});

function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: fixture.home }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('dashboard page', () => {
  it('refuses a browser without the token, saying how to get the URL', async () => {
    const stranger = await browser.newPage();
    try {
      const res = await stranger.goto(url);
      expect(res!.status()).toBe(401);
      expect(await stranger.textContent('body')).toContain('mzt dashboard');
    } finally {
      await stranger.close();
    }
  });

  it('logs in once by the ?token= URL: redirected without it, an HttpOnly SameSite=Strict cookie set', async () => {
    expect(loginUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
    const res = await page.goto(loginUrl);
    expect(res!.status()).toBe(200);
    expect(page.url()).toBe(url);
    const cookies = await page.context().cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookies[0]!.value).not.toContain(loginUrl.split('token=')[1]);
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('shows a live snapshot within a few seconds', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const t0 = Date.now();
    // No token from here on: every page load, fetch and EventSource goes by the cookie.
    await page.goto(url);
    await page.waitForFunction(() => (window as any).mzt?.snapshots > 0, undefined, { timeout: 10_000 });
    console.log(`first snapshot on the page ${Date.now() - t0} ms after navigation`);
    await expect.poll(() => page.textContent('#c-conductor')).toContain(`pid ${fixture.conductor.pid}`);
    expect(await page.textContent('#c-conductor')).toContain('UP');
    expect(await page.textContent('#source')).toBe('daemon');
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    // The (fake) GPU: utilization, VRAM, temperature.
    await expect.poll(() => page.textContent('#gpus')).toContain('GPU 0');
    expect(await page.textContent('#gpus')).toMatch(/42%[\s\S]*VRAM 1\.0 GB \/ 16\.0 GB · 61 °C/);
    // A second snapshot replaces the first: it is live.
    const first = await page.evaluate(() => (window as any).mzt.lastSnapshot.timestamp);
    await page.waitForFunction((ts) => (window as any).mzt.lastSnapshot.timestamp > ts, first, { timeout: 5000 });
  });

  it('a job submitted with the CLI changes status live and its log lines appear', async () => {
    const out = cli('submit', '--name', 'browser-job', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6; do echo log-line-$i; sleep 0.4; done');
    const jobId = /^(\S+)/.exec(out)![1]!;
    const row = page.locator(`tr[data-job="${jobId}"]`);
    await expect.poll(() => row.locator('td.status').textContent(), { timeout: 10_000 }).toBe('running');
    await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-overview.png'), fullPage: true });
    // Open the job while it runs: lines arrive as they are written, then the status turns.
    await row.locator('a').first().click();
    await expect.poll(() => page.textContent('#log'), { timeout: 10_000 }).toContain('log-line-1');
    expect(await page.textContent('#log')).not.toContain('log-line-6');
    await expect.poll(() => page.textContent('#log'), { timeout: 10_000 }).toContain('log-line-6');
    await expect.poll(() => page.textContent('#job-status'), { timeout: 10_000 }).toBe('completed');
    await expect.poll(() => page.textContent('#sheets-table'), { timeout: 5000 }).toContain('completed');
    expect(await page.textContent('#job-events')).toContain('job.completed');
    await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-job.png'), fullPage: true });
    await page.goto(`${url}#/`);
    await expect.poll(() => page.locator(`tr[data-job="${jobId}"] td.status`).textContent(), { timeout: 10_000 }).toBe('completed');
  });

  it('measures commit → page delay, and stays bounded under thousands of events', async () => {
    await page.waitForFunction(() => (window as any).mzt?.snapshots > 0);
    // Paced single events: each one's commit time (ts) against its arrival in the page.
    const seqs: number[] = [];
    for (let i = 0; i < 60; i++) {
      seqs.push((await fixture.client.call('debug.emit', { count: 1 })).first_seq);
      await new Promise((r) => setTimeout(r, 25));
    }
    await page.waitForFunction((last) => (window as any).mzt.received.has(last), seqs.at(-1), { timeout: 10_000 });
    const { events } = await fixture.client.call('events.read', { since: seqs[0]! - 1, types: ['debug.'], limit: 100 });
    const arrived: Record<number, number> = await page.evaluate((s) => Object.fromEntries(s.map((q: number) => [q, (window as any).mzt.received.get(q)])), seqs);
    const delays = events.map((e) => arrived[e.seq!]! - e.ts * 1000).sort((a, b) => a - b);
    expect(delays).toHaveLength(60);
    const pct = (p: number) => delays[Math.min(delays.length - 1, Math.floor((delays.length * p) / 100))]!;
    const summary = { events: delays.length, p50_ms: pct(50), p95_ms: pct(95), max_ms: delays.at(-1) };
    console.log(`commit → browser delay: ${JSON.stringify(summary)}`);

    // A burst of 5,000: all arrive, the timeline keeps at most 200 rows.
    const t0 = Date.now();
    const burst = await fixture.client.call('debug.emit', { count: 5000 });
    await page.waitForFunction((last) => (window as any).mzt.received.has(last), burst.last_seq, { timeout: 30_000 });
    const burstMs = Date.now() - t0;
    const rows = await page.locator('#timeline li').count();
    expect(rows).toBeLessThanOrEqual(200);
    expect(rows).toBeGreaterThan(0);
    // The page still answers promptly after the burst.
    const t1 = Date.now();
    await page.evaluate(() => document.querySelectorAll('#timeline li').length);
    const evalMs = Date.now() - t1;
    console.log(`5,000-event burst reached the page in ${burstMs} ms; page round trip afterwards ${evalMs} ms`);
    fs.writeFileSync(path.join(TEST_OUTPUT, 'browser-latency.json'), JSON.stringify({ ...summary, burst_5000_ms: burstMs, eval_after_burst_ms: evalMs }, null, 2));
  });

  it('shows hundreds of processes tagged by their job and stays responsive', async () => {
    const out = cli('submit', '--name', 'many', '--', 'sh', '-c', 'for i in $(seq 200); do sleep 30 & done; wait');
    const jobId = /^(\S+)/.exec(out)![1]!;
    try {
      await page.waitForFunction(
        (id) => ((window as any).mzt.lastSnapshot?.processes ?? []).filter((p: any) => p.job_id === id).length >= 200,
        jobId,
        { timeout: 20_000 },
      );
      await expect.poll(() => page.locator('#processes tr[data-pid]').count(), { timeout: 5000 }).toBeGreaterThanOrEqual(201);
      expect(await page.textContent('#processes')).toContain(`Job ${jobId}`);
      // Time the page's own render of one snapshot with ~200 rows, in the page.
      const renderMs = await page.evaluate(() => {
        const t0 = performance.now();
        (window as any).mzt.render('processes');
        return performance.now() - t0;
      });
      console.log(`process table render with ${await page.locator('#processes tr[data-pid]').count()} rows: ${renderMs.toFixed(1)} ms`);
      await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-processes.png'), fullPage: false });
    } finally {
      await fixture.client.call('job.cancel', { job_id: jobId });
    }
  });
});
