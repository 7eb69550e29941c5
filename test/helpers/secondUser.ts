/**
 * A real second, unprivileged account for permission tests. The tests run as root, and root
 * ignores file modes, so "another user cannot read this" can only be shown by trying as one.
 *
 * Each test file makes its own account (test files run in parallel; removing a shared one in
 * one file's teardown would break another's run) and removes it afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface SecondUser {
  name: string;
  uid: number;
  gid: number;
  /** Run argv as this account (no root, no supplementary groups). */
  run(argv: string[], opts?: { timeoutMs?: number; input?: string }): { status: number | null; stdout: string; stderr: string };
  /** Run a Node.js script (given as source) as this account; its stdout is returned. */
  node(source: string, opts?: { timeoutMs?: number }): { status: number | null; stdout: string; stderr: string };
  remove(): void;
}

/** True when this process can create accounts (root with useradd and setpriv). */
export function canCreateUsers(): boolean {
  return process.getuid?.() === 0 && fs.existsSync('/usr/sbin/useradd') && fs.existsSync('/usr/bin/setpriv');
}

export function createSecondUser(): SecondUser {
  if (!canCreateUsers()) throw new Error('permission tests need root with useradd and setpriv (util-linux)');
  // Login names are limited to 32 characters.
  const name = `mzt-t${crypto.randomBytes(4).toString('hex')}`;
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  const run: SecondUser['run'] = (argv, opts = {}) => {
    const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...argv], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 20_000,
      input: opts.input,
      // HOME of root is not this account's; nothing it runs should write there.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
    });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  return {
    name,
    uid,
    gid,
    run,
    // The script arrives on stdin: a file of the repository may sit where the account cannot read.
    node: (source, opts) => run([process.execPath, '--input-type=module', '-'], { ...opts, input: source }),
    remove() {
      spawnSync('userdel', [name]);
    },
  };
}
