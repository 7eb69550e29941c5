/**
 * Start a real conductor process (the compiled CLI, as a user would) on a private temp
 * MZT_HOME, and clean it up afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { DaemonClient, type ConnectOptions } from '../../src/ipc/client.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI as users run it: the bundle (scripts/bundle.mjs). */
export const CLI = path.join(REPO_ROOT, 'dist/bundle/mzt.js');

export interface RunningConductor {
  home: string;
  socketPath: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the conductor wrote to stderr so far. */
  output(): string;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export function makeHome(prefix = 'mzt-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeHome(home: string): void {
  fs.rmSync(home, { recursive: true, force: true });
}

export async function startConductor(
  home: string,
  opts: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    config?: Record<string, unknown>;
    /** Called as soon as the process is spawned, before it is ready. */
    onSpawn?: (proc: ChildProcess) => void;
    /** A command that execs the conductor (e.g. setpriv with dropped capabilities). */
    wrap?: string[];
  } = {},
): Promise<RunningConductor> {
  // Test conductors serve no dashboard unless a test asks (many run at once; a fixed port would clash).
  const configFile = path.join(home, 'config.json');
  if (opts.config || !fs.existsSync(configFile)) {
    fs.writeFileSync(configFile, JSON.stringify({ dashboard_enabled: false, ...opts.config }));
  }
  const argv = [...(opts.wrap ?? []), process.execPath, CLI, 'conductor', 'start'];
  const proc = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, MZT_HOME: home, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.onSpawn?.(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const timeoutMs = opts.timeoutMs ?? 20_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`conductor not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      if (/ ready on /.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stderr!.on('data', check);
    proc.stdout!.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`conductor exited (${code ?? signal}) before ready:\n${out}`));
    });
  });
  const socketPath = path.join(home, 'run', 'conductor.sock');
  return {
    home,
    socketPath,
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Poll `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resident memory of a process in MB, from /proc. */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

export type StartOptions = NonNullable<Parameters<typeof startConductor>[1]>;

export interface ConductorFixtureOptions extends StartOptions {
  /** Prefix of the temp MZT_HOME's name (tells whose home a leftover is). */
  prefix?: string;
  /**
   * Runs on the fresh home before the conductor starts (fake binaries, links); what it
   * returns is merged into the start options, for settings that name paths inside the home.
   */
  prepare?: (home: string) => Partial<StartOptions> | void | Promise<Partial<StartOptions> | void>;
  /** Options of the client connected after start; false for no client (the test makes its own). */
  client?: false | Omit<ConnectOptions, 'socketPath'>;
}

export interface ConductorFixture {
  readonly home: string;
  readonly conductor: RunningConductor;
  readonly client: DaemonClient;
}

/**
 * One conductor for a whole test file: started in beforeAll on a fresh MZT_HOME with a client
 * connected to it, and in afterAll the client closed, the conductor stopped and the home removed.
 * Read its fields inside tests (they are filled in beforeAll).
 */
export function useConductor(opts: ConductorFixtureOptions = {}): ConductorFixture {
  const { prefix, prepare, client: clientOptions = {}, ...startOptions } = opts;
  let home: string | undefined;
  let conductor: RunningConductor | undefined;
  let client: DaemonClient | undefined;
  beforeAll(async () => {
    home = makeHome(prefix);
    const extra = (await prepare?.(home)) ?? {};
    conductor = await startConductor(home, {
      ...startOptions,
      ...extra,
      env: { ...startOptions.env, ...extra.env },
      config: startOptions.config || extra.config ? { ...startOptions.config, ...extra.config } : undefined,
    });
    if (clientOptions) client = await DaemonClient.connect({ ...clientOptions, socketPath: conductor.socketPath });
  });
  afterAll(async () => {
    await client?.close();
    await conductor?.stop();
    if (home) removeHome(home);
  });
  const filled = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`no ${what} (use it inside a test, after beforeAll)`);
    return value;
  };
  return {
    get home() {
      return filled(home, 'home');
    },
    get conductor() {
      return filled(conductor, 'conductor');
    },
    get client() {
      return filled(client, clientOptions ? 'client' : 'client (this fixture has client: false)');
    },
  };
}
