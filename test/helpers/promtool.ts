/**
 * Debian's promtool (package `prometheus`), installed by scripts/install-promtool.sh when missing,
 * for the tests that check /metrics and docs/fleet/prometheus.yml with Prometheus's own linter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './conductorProcess.js';

export function ensurePromtool(): void {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts/install-promtool.sh')], { stdio: 'inherit', timeout: 600_000 });
  }
}

/** Runs promtool with `args`, `input` on stdin; its exit code and everything it printed. */
export function promtool(args: string[], input?: string): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}
