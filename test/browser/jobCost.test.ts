/**
 * What each job costs, in a real browser (Debian's Chromium via playwright-core) against a real
 * conductor serving its dashboard: the jobs table's CPU% / RSS per running job, the overview's
 * top jobs by CPU and memory, the job page's live charts opening with stored history, its peak,
 * CPU seconds and processes; the timeline hides process.* until asked, colours failures red
 * (job or sheet), shows a one-sheet job's running sheet, uses one time format; and the page
 * never overflows sideways at 1400 and 1024 px, even with a 200-character event line; the job
 * page shows the job's latest syscall trace (a real `strace`, job.trace).
 * Screenshots go to test-output/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';
import { ensureStrace } from '../helpers/strace.js';
import { TEST_OUTPUT, launchChromium } from '../helpers/browser.js';

const fixture = useConductor({ client: { reconnect: false }, config: { dashboard_enabled: true, dashboard_port: 0, profiler_interval_seconds: 0.5 } });
let browser: Browser;
let page: Page;
let url: string;
const ids: Record<string, string> = {};

// A shell burning CPU in a child (so process.* events exist), a holder of ~80 MB idle, a failure
// with a 200-character name (the long event line), and a two-sheet job whose first sheet fails.
const BUSY = ['sh', '-c', 'sh -c "while :; do :; done" & wait'];
const HOG = [process.execPath, '-e', 'const b = Buffer.alloc(80 * 1024 * 1024, 1); setInterval(() => b.length, 1000)'];
const LONG_NAME = `long-${'x'.repeat(195)}`;

beforeAll(async () => {
  fs.mkdirSync(TEST_OUTPUT, { recursive: true });
  ensureStrace();
  browser = await launchChromium();
  const loginUrl = (await fixture.client.call('daemon.status', {})).dashboard_url as string;
  url = loginUrl.replace(/\?token=.*$/, '');
  ids.busy = (await fixture.client.call('job.submit', { name: 'busy', sheets: [{ argv: BUSY }] })).job_id;
  ids.hog = (await fixture.client.call('job.submit', { name: 'hog', sheets: [{ argv: HOG }] })).job_id;
  ids.failed = (await fixture.client.call('job.submit', { name: LONG_NAME, sheets: [{ argv: ['sh', '-c', 'exit 3'] }] })).job_id;
  ids.ok = (await fixture.client.call('job.submit', { name: 'ok', sheets: [{ argv: ['true'] }] })).job_id;
  ids.twoSheets = (await fixture.client.call('job.submit', { name: 'two', sheets: [{ argv: ['sh', '-c', 'exit 1'] }, { argv: ['true'] }] })).job_id;
  // A few seconds of stored samples with the busy job's cost: the job page must open with them.
  await waitFor(async () => {
    const h = await fixture.client.call('monitor.job_history', { job_id: ids.busy });
    return (h as { samples: unknown[] }).samples.length >= 4;
  }, 20_000, 'stored history of the busy job');
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => {
    throw err;
  });
  await page.goto(loginUrl);
}, 600_000);

afterAll(async () => {
  await browser?.close();
});

/** Sideways overflow: the document is no wider than the window. */
async function noSidewaysOverflow(p: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  const m = await p.evaluate(() => {
    // On failure, say which elements stick out (the innermost few), not just that one does.
    const out = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && (el as HTMLElement).offsetParent !== null)
      .filter((el) => !(el.parentElement && el.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
      .slice(0, 6)
      .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${String(el.className).replace(/ /g, '.')} right=${Math.round(el.getBoundingClientRect().right)}`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, out };
  });
  expect(m.scrollWidth, JSON.stringify(m)).toBeLessThanOrEqual(m.innerWidth);
  return m;
}

describe('dashboard: job cost', () => {
  it('jobs table: CPU% and RSS of each running job, the figures of the snapshot it shows', async () => {
    await page.waitForFunction(() => (window as any).mzt?.lastSnapshot?.job_costs?.length >= 2, undefined, { timeout: 15_000 });
    // The row shows what the page's latest snapshot says (same formatting), for both running jobs.
    const agree = await page.waitForFunction(
      (jobIds: string[]) => {
        const s = (window as any).mzt.lastSnapshot;
        return jobIds.every((id) => {
          const c = s.job_costs.find((x: any) => x.job_id === id);
          const row = document.querySelector(`#jobs-table tr[data-job="${id}"]`);
          if (!c || !row || c.cpu_percent === null) return false;
          return row.querySelector('td.cpu')!.textContent === `${c.cpu_percent.toFixed(1)}%` && row.querySelector('td.rss')!.textContent === `${Math.round(c.rss_mb)} MB`;
        });
      },
      [ids.busy, ids.hog],
      { timeout: 15_000 },
    );
    expect(await agree.jsonValue()).toBe(true);
    const busyCpu = await page.textContent(`#jobs-table tr[data-job="${ids.busy}"] td.cpu`);
    expect(parseFloat(busyCpu!)).toBeGreaterThan(5); // a busy loop; the machine is shared, so not a full core
    const hogRss = await page.textContent(`#jobs-table tr[data-job="${ids.hog}"] td.rss`);
    expect(parseFloat(hogRss!)).toBeGreaterThan(70);
    // Ended jobs: no CPU% / RSS now.
    await page.waitForSelector(`#jobs-table tr[data-job="${ids.failed}"]`);
    expect(await page.textContent(`#jobs-table tr[data-job="${ids.failed}"] td.cpu`)).toBe('—');
  });

  it('overview: top jobs by CPU and by memory; the processes panel heads each job with its totals', async () => {
    await page.waitForFunction((id) => document.querySelector('#top-cpu tr')?.getAttribute('data-job') === id, ids.busy, { timeout: 10_000 });
    await page.waitForFunction((id) => document.querySelector('#top-mem tr')?.getAttribute('data-job') === id, ids.hog, { timeout: 10_000 });
    expect(await page.textContent(`#processes tr.group[data-group="${ids.busy}"]`)).toMatch(/2 process\(es\) · CPU \d+\.\d% · RSS \d+ MB · CPU time \d/);
  });

  it('timeline: process.* hidden until toggled, failures red for job and sheet, one time format, a one-sheet job shows its running sheet', async () => {
    await page.waitForSelector(`#timeline li[data-type="job.failed"]`, { timeout: 10_000 });
    const processEvents = (await fixture.client.call('events.read', { since: 0, types: ['process.'] })).events.length;
    expect(processEvents).toBeGreaterThan(0);
    expect(await page.locator('#timeline li[data-type^="process."]').count()).toBe(0);
    await page.locator('#view-overview input.show-process').check();
    await page.waitForSelector('#timeline li[data-type^="process."]', { timeout: 5000 });
    await page.locator('#view-overview input.show-process').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('#timeline li[data-type^="process."]').length === 0, undefined, { timeout: 5000 });

    for (const type of ['job.failed', 'sheet.failed']) {
      const cls = await page.getAttribute(`#timeline li[data-type="${type}"]`, 'class', { timeout: 5000 });
      expect(cls, type).toMatch(/\bbad\b/);
      const color = await page.locator(`#timeline li[data-type="${type}"] .type`).first().evaluate((el) => getComputedStyle(el).color);
      expect(color, type).toBe('rgb(255, 107, 107)');
    }
    expect(await page.getAttribute('#timeline li[data-type="sheet.completed"]', 'class', { timeout: 5000 })).toMatch(/\bok\b/);

    const times = await page.locator('#timeline .ts').allTextContents();
    expect(times.length).toBeGreaterThan(3);
    for (const t of times) expect(t).toMatch(/^\d\d:\d\d:\d\d$/);
    const submitted = await page.textContent(`#jobs-table tr[data-job="${ids.busy}"] td:nth-child(7)`);
    expect(submitted).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(await page.textContent(`#jobs-table tr[data-job="${ids.busy}"] .progress`)).toBe('0/1 · sheet 1 running');
  });

  for (const width of [1400, 1024]) {
    it(`no sideways overflow at ${width} px (overview with a 200-character event line, and the job page)`, async () => {
      await page.setViewportSize({ width, height: 1000 });
      await page.goto(`${url}#/`);
      await page.waitForSelector(`#timeline li[data-type="job.failed"]`, { timeout: 10_000 });
      expect(await page.locator('#timeline li', { hasText: LONG_NAME }).count()).toBeGreaterThan(0);
      await page.waitForTimeout(600);
      await noSidewaysOverflow(page);
      await page.screenshot({ path: path.join(TEST_OUTPUT, `dashboard-cost-overview-${width}.png`), fullPage: true });
      await page.goto(`${url}#/jobs/${encodeURIComponent(ids.failed)}`);
      await page.waitForSelector('#job-events li');
      await noSidewaysOverflow(page);
    });
  }

  it('job page: live CPU% / RSS charts opening with the stored history, peak, CPU seconds, processes', async () => {
    await page.setViewportSize({ width: 1400, height: 1000 });
    // A syscall trace (real strace) of a job reading and writing, shown on its page.
    const io = (await fixture.client.call('job.submit', { name: 'io', sheets: [{ argv: ['sh', '-c', 'while :; do dd if=/dev/zero bs=4k count=64 2>/dev/null | cat > /dev/null; done'] }] })).job_id;
    await waitFor(async () => (await fixture.client.call('job.get', { job_id: io })).status === 'running', 10_000, 'io running');
    const trace = await fixture.client.call('job.trace', { job_id: io, seconds: 1 }, { timeoutMs: 30_000 });
    await fixture.client.call('job.cancel', { job_id: io });
    await page.goto(`${url}#/jobs/${encodeURIComponent(io)}`);
    await page.waitForSelector('#job-trace tr[data-syscall]', { timeout: 10_000 });
    expect(await page.getAttribute('#job-trace tr[data-syscall]', 'data-syscall')).toBe(trace.syscalls[0]!.syscall);
    expect(['read', 'write']).toContain(trace.syscalls[0]!.syscall);
    await page.goto(`${url}#/jobs/${encodeURIComponent(ids.busy)}`);
    await page.waitForFunction((id) => (window as any).mzt.jobHistoryFor === id, ids.busy, { timeout: 10_000 });
    const historyPoints = await page.evaluate(() => (window as any).mzt.jobHistoryPoints);
    expect(historyPoints).toBeGreaterThanOrEqual(4);
    await page.waitForSelector('#chart-job-cpu canvas', { timeout: 10_000 });
    await page.waitForSelector('#chart-job-rss canvas');
    const cpuNow = await page.textContent('#job-cost .job-cpu');
    expect(parseFloat(cpuNow!)).toBeGreaterThan(5);
    const job = await fixture.client.call('job.get', { job_id: ids.busy });
    const shownSeconds = parseFloat((await page.textContent('#job-cost .job-cpu-seconds'))!);
    expect(Math.abs(shownSeconds - job.cost!.cpu_seconds)).toBeLessThan(3);
    expect(await page.textContent('#job-cost .job-peak')).toMatch(/MB$/);
    const pids = await page.locator('#job-procs tr[data-pid]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-pid'))));
    expect(pids).toContain(job.sheets[0]!.pid);
    expect(pids.length).toBe(2);
    // Live: the chart keeps growing past its history.
    const before = await page.evaluate(() => (window as any).mzt.lastSnapshot.timestamp);
    await page.waitForFunction((ts) => (window as any).mzt.lastSnapshot.timestamp > ts + 1, before, { timeout: 10_000 });
    await noSidewaysOverflow(page);
    await page.screenshot({ path: path.join(TEST_OUTPUT, 'dashboard-cost-job.png'), fullPage: true });
  });
});
