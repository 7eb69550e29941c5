/** Run the compiled `mzt` CLI as a user would, against one MZT_HOME. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './conductorProcess.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then closed; without it stdin is /dev/null. */
  input?: string;
  /** Called once the process is spawned (to signal it mid-run). */
  onSpawn?: (proc: ChildProcess) => void;
}

export function runMzt(home: string, args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, MZT_HOME: home, ...opts.env },
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    opts.onSpawn?.(p);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
