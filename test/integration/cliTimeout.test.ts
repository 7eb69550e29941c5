/**
 * A listener that accepts and never answers (a wedged conductor, or another program on the
 * socket path): every CLI command gives up after its timeout and exits non-zero, instead of
 * printing the timeout and then hanging on the still-open connection.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeHome, removeHome } from '../helpers/conductorProcess.js';

let home: string;
let server: net.Server;
const accepted: net.Socket[] = [];

beforeAll(async () => {
  home = makeHome();
  fs.mkdirSync(path.join(home, 'run'), { mode: 0o700 });
  server = net.createServer((socket) => accepted.push(socket)); // reads nothing, writes nothing
  await new Promise<void>((resolve) => server.listen(path.join(home, 'run', 'conductor.sock'), resolve));
});

afterAll(async () => {
  for (const s of accepted) s.destroy();
  await new Promise((r) => server.close(r));
  removeHome(home);
});

const CONNECT_TIMEOUT_MS = 1000;
/** Far above the timeout: a command still running then is hanging. */
const HANG_MS = 15_000;

function runCli(argv: string[]): Promise<{ argv: string[]; code: number | null; stderr: string; ms: number; hung: boolean }> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...argv], {
    env: { ...process.env, MZT_HOME: home, MZT_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, HANG_MS);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ argv, code, stderr, ms: Date.now() - started, hung });
    }),
  );
}

describe('a socket that accepts and never answers', () => {
  it('every command exits non-zero after its connect timeout, saying why', async () => {
    const commands = [
      ['jobs'],
      ['call', 'daemon.status'],
      ['conductor', 'status'],
      ['logs', 'some-job'],
      ['logs', 'some-job', '-f'],
      ['job', 'some-job'],
      ['subscribe'],
      ['top', '--json'],
      ['top', '--once'],
      ['diagnose', 'some-job'],
      ['submit', '--', 'true'],
    ];
    const results = await Promise.all(commands.map(runCli));
    for (const r of results) {
      const what = `mzt ${r.argv.join(' ')}: ${JSON.stringify(r)}`;
      expect(r.hung, what).toBe(false);
      expect(r.code, what).not.toBe(0);
      expect(r.code, what).not.toBeNull();
      expect(r.stderr, what).toMatch(/no answer to hello within 1000 ms/);
      expect(r.stderr, what).toContain(path.join(home, 'run', 'conductor.sock'));
    }
    // The connections were really made (the listener is reached, not refused).
    expect(accepted.length).toBeGreaterThanOrEqual(commands.length);
  }, 60_000);
});
