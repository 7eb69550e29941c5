/**
 * The git context of a directory, for a job's provenance: HEAD's sha, the branch, and whether
 * the work tree differs from HEAD (untracked files count). One `git status --porcelain=v2
 * --branch`, run asynchronously with a time bound: the event loop never waits on it, and a
 * slow or missing git, or a directory that is not in a work tree, gives undefined.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { GitContext } from '../events/jobRecord.js';

export const GIT_TIMEOUT_MS = 2000;
/** Header lines are all we need; a dirty tree is known from its first entry line. */
const MAX_OUTPUT = 64 * 1024;

/** Pids of the latest git runs: the conductor's own children, not observed job processes. */
const recentPids: number[] = [];
const RECENT_PIDS = 64;

export function gitChildPids(): readonly number[] {
  return recentPids;
}

/** Is there a `.git` (directory or file) in dir or above? A few stats instead of a git run. */
async function inWorkTree(dir: string): Promise<boolean> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (await fs.stat(path.join(d, '.git')).then(() => true, () => false)) return true;
    if (path.dirname(d) === d) return false;
  }
}

export async function gitContext(dir: string, timeoutMs = GIT_TIMEOUT_MS): Promise<GitContext | undefined> {
  // Most jobs run outside a repository: no process for them.
  if (!(await inWorkTree(dir))) return undefined;
  return runGitStatus(dir, timeoutMs);
}

function runGitStatus(dir: string, timeoutMs: number): Promise<GitContext | undefined> {
  return new Promise((resolve) => {
    let sha: string | null = null;
    let branch: string | null = null;
    let dirty = false;
    let buf = '';
    let size = 0;
    let settled = false;
    const finish = (value: GitContext | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(value);
    };
    const child = spawn('git', ['-C', dir, 'status', '--porcelain=v2', '--branch'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      // Read only: git status would otherwise refresh the index and take its lock, which can
      // make a user's own git command in that repository fail meanwhile.
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' },
    });
    if (child.pid !== undefined) {
      recentPids.push(child.pid);
      if (recentPids.length > RECENT_PIDS) recentPids.shift();
    }
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    child.on('error', () => finish(undefined)); // git not installed
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      size += chunk.length;
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('# branch.oid ')) {
          const oid = line.slice('# branch.oid '.length);
          sha = /^[0-9a-f]{40,64}$/.test(oid) ? oid : null; // "(initial)": no commit yet
        } else if (line.startsWith('# branch.head ')) {
          const head = line.slice('# branch.head '.length);
          branch = head === '(detached)' ? null : head;
        } else if (!line.startsWith('#') && line.length > 0) {
          // Entries come after the headers: the first one settles it.
          dirty = true;
          finish({ sha, branch, dirty });
          return;
        }
      }
      if (size > MAX_OUTPUT) finish(undefined);
    });
    child.on('close', (code) => finish(code === 0 ? { sha, branch, dirty } : undefined));
  });
}
