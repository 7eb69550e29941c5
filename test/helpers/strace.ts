/**
 * Debian's strace for the `mzt trace` tests (installed by scripts/install-strace.sh when
 * missing), and /proc views of what a trace may leave behind: strace processes under the
 * conductor, tracees still traced (TracerPid) or stopped (state T / t).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './conductorProcess.js';

export function ensureStrace(): void {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts/install-strace.sh')], { stdio: 'inherit', timeout: 600_000 });
  }
}

export interface ProcView {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  tracerPid: number;
}

export function readProc(pid: number): ProcView | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), comm, state: fields[0]!, tracerPid: Number(/TracerPid:\s+(\d+)/.exec(status)?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

export function allProcs(): ProcView[] {
  const out: ProcView[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Live (non-zombie) descendants of `root`, root excluded. */
export function descendants(root: number): ProcView[] {
  const procs = allProcs();
  const found = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) if (!found.has(p.pid) && found.has(p.ppid)) (found.add(p.pid), (grew = true));
  }
  return procs.filter((p) => p.pid !== root && found.has(p.pid) && p.state !== 'Z');
}

/** strace (or the `timeout` that bounds it) running under the conductor. */
export function tracersUnder(conductorPid: number): ProcView[] {
  return descendants(conductorPid).filter((p) => p.comm === 'strace' || p.comm === 'timeout');
}
