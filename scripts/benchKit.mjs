// Shared pieces of the benchmark scripts: options, statistics, a conductor process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `--name N` from the command line, or the default. */
export function opt(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

export const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Start the compiled conductor on `home`; resolves when it is ready, with the time it took. */
export async function startConductor(home, env = {}) {
  // No dashboard: its bridge would be one more subscriber in every measurement.
  const configFile = path.join(home, 'config.json');
  if (!fs.existsSync(configFile)) fs.writeFileSync(configFile, JSON.stringify({ dashboard_enabled: false }));
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, [path.join(root, 'dist/cli/main.js'), 'conductor', 'start'], {
    env: { ...process.env, MZT_HOME: home, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      out += d;
      if (/ ready on /.test(out)) resolve();
    });
    proc.on('exit', () => reject(new Error(out)));
  });
  return {
    proc,
    ms: Number(process.hrtime.bigint() - t0) / 1e6,
    socketPath: path.join(home, 'run', 'conductor.sock'),
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
    },
  };
}
