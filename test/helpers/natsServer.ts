/**
 * A real nats-server (Debian's 2.9, JetStream on) on a free loopback port with a temporary
 * store, for the fleet tests. Installed by scripts/install-nats-server.sh when missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { REPO_ROOT } from './conductorProcess.js';

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  proc: ChildProcess;
  /** Stop it (SIGTERM, then SIGKILL) and keep its store. */
  stop(): Promise<void>;
  /** Start it again on the same port and store. */
  restart(): Promise<void>;
  /** Stop and remove the store. */
  dispose(): Promise<void>;
}

function ensureInstalled(): void {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts/install-nats-server.sh')], { stdio: 'inherit', timeout: 600_000 });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}):\n${output()}`);
    if (/Server is ready/.test(output())) return;
    if (Date.now() > deadline) throw new Error(`nats-server not ready on ${port}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startNatsServer(): Promise<NatsServer> {
  ensureInstalled();
  const port = await freePort();
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-nats-'));
  let proc!: ChildProcess;
  let out = '';
  const launch = async () => {
    out = '';
    proc = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    await waitListening(port, proc, () => out);
  };
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get proc() {
      return proc;
    },
    stop,
    restart: launch,
    async dispose() {
      await stop();
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * One nats-server for a test file: started in beforeAll, disposed in afterAll. Register it
 * before the conductors that use it: after-hooks run in reverse, so they stop first.
 */
export function useNatsServer(): NatsServer {
  let server: NatsServer | undefined;
  beforeAll(async () => {
    server = await startNatsServer();
  }, 120_000);
  afterAll(async () => {
    await server?.dispose();
  });
  // The server exists only once beforeAll ran: a stand-in that reads it at use.
  return new Proxy({} as NatsServer, {
    get(_, key) {
      if (!server) throw new Error('no nats-server yet (use it inside a test, after beforeAll)');
      const value = Reflect.get(server, key);
      return typeof value === 'function' ? value.bind(server) : value;
    },
  });
}
