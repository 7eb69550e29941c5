/**
 * `mzt clear`: delete ended jobs (their rows, logs and cost ledger) through `job.clear`.
 * With nothing to select by it refuses rather than clear everything: `--all` says so.
 */
import { Command } from 'commander';
import { collect, UsageError } from './args.js';
import { printJson } from './output.js';
import type { WithClient } from './conductorClient.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `7d`, `12h`, `2h30m`, `90s` → seconds. */
export function parseAge(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) {
    throw new UsageError(`--older-than must be a duration such as 7d, 12h, 2h30m or 90s, got "${text}"`);
  }
  return parts.reduce((sum, m) => sum + Number(m[1]) * UNITS[m[2]!]!, 0);
}

export function addClearCommand(program: Command, withClient: WithClient): void {
  program
    .command('clear')
    .description('delete ended jobs: their records, logs and cost ledger (never queued or running jobs)')
    .argument('[ids...]', 'these jobs (all must have ended)')
    .option('--status <status>', 'only jobs that ended so: completed, failed, cancelled, interrupted (repeatable)', collect, [])
    .option('--older-than <age>', 'only jobs that ended longer ago than this, e.g. 7d, 12h, 30m')
    .option('--all', 'every ended job (needed when nothing else selects)')
    .option('--json', 'print the result as JSON')
    .action(async (ids: string[], opts: { status: string[]; olderThan?: string; all?: boolean; json?: boolean }) => {
      if (!ids.length && !opts.status.length && opts.olderThan === undefined && !opts.all) {
        throw new UsageError('say what to clear: job ids, --status, --older-than, or --all for every ended job');
      }
      const params = {
        ...(ids.length ? { job_ids: ids } : {}),
        ...(opts.status.length ? { statuses: opts.status } : {}),
        ...(opts.olderThan !== undefined ? { older_than_seconds: parseAge(opts.olderThan) } : {}),
      };
      const res = await withClient((c) => c.call('job.clear', params as Record<string, unknown>, { timeoutMs: 120_000 }));
      if (opts.json) return printJson(res);
      const more = res.cleared > res.job_ids.length ? ` … and ${res.cleared - res.job_ids.length} more` : '';
      process.stdout.write(res.cleared === 0 ? 'nothing to clear\n' : `cleared ${res.cleared} job(s): ${res.job_ids.join(' ')}${more}\n`);
      if (res.has_more) process.stdout.write('more ended jobs match: run it again\n');
    });
}
