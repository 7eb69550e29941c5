/**
 * Debian's Chromium driven by playwright-core (playwright's own browser download cannot work
 * on these machines). The browser is installed by scripts/install-chromium.sh when missing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './conductorProcess.js';

export const CHROMIUM = '/usr/bin/chromium';
export const TEST_OUTPUT = path.join(REPO_ROOT, 'test-output');

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts/install-chromium.sh')], { stdio: 'inherit', timeout: 600_000 });
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
