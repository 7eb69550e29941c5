/**
 * The conductor's log as a detached conductor writes it to $MZT_HOME/conductor.log: log_level
 * filters (and changes on SIGHUP), --log-format json writes JSON lines, the file is rotated by
 * size and stays bounded, and a crash's stack still lands in it after rotations. A restart
 * keeps the log options the detached conductor was started with.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, makeHome, pidAlive, removeHome, waitFor } from '../helpers/conductorProcess.js';

const run = promisify(execFile);
const homes: string[] = [];
const pids: number[] = [];

async function detach(config: Record<string, unknown>, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ home: string; pid: number; log: string }> {
  const home = makeHome('mzt-log-');
  homes.push(home);
  // 0600: a wider file is tightened with an info line written before log_level is known.
  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: false, ...config }), { mode: 0o600 });
  const { stdout } = await run(process.execPath, [CLI, 'conductor', 'start', '--detach', ...args], { env: { ...process.env, MZT_HOME: home, ...env } });
  const pid = Number(/pid (\d+)/.exec(stdout)![1]);
  pids.push(pid);
  return { home, pid, log: path.join(home, 'conductor.log') };
}

/** One client connection that says hello and leaves: two debug lines (opened, closed). */
async function touch(home: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.createConnection(path.join(home, 'run', 'conductor.sock'), () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);

afterEach(async () => {
  for (const pid of pids.splice(0)) {
    if (!pidAlive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !pidAlive(pid), 15_000, `conductor ${pid} stopped`).catch(() => process.kill(pid, 'SIGKILL'));
  }
  for (const home of homes.splice(0)) removeHome(home);
});

describe('conductor log', () => {
  it('log_level warn keeps warnings only; a SIGHUP to debug shows debug lines; --log-format json writes JSON lines', async () => {
    const c = await detach({ log_level: 'warn' }, ['--log-format', 'json']);
    await touch(c.home);
    // A warning: a reload of a bad config is refused.
    fs.writeFileSync(path.join(c.home, 'config.json'), '{"log_level": "loud"}');
    process.kill(c.pid, 'SIGHUP');
    await waitFor(() => fs.readFileSync(c.log, 'utf8').includes('config reload rejected'), 10_000, 'reload rejected');
    const atWarn = lines(c.log).map((l) => JSON.parse(l) as { time: string; level: string; pid: number; msg: string });
    expect(atWarn.length).toBeGreaterThan(0);
    for (const l of atWarn) {
      expect(l.level).toBe('warn');
      expect(l.pid).toBe(c.pid);
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
    }
    expect(atWarn.some((l) => /"log_level" must be one of "?debug"?, "?info"?, "?warn"?, "?error"?/.test(l.msg))).toBe(true);

    fs.writeFileSync(path.join(c.home, 'config.json'), JSON.stringify({ dashboard_enabled: false, log_level: 'debug' }));
    process.kill(c.pid, 'SIGHUP');
    await waitFor(() => fs.readFileSync(c.log, 'utf8').includes('config reloaded'), 10_000, 'reloaded');
    await touch(c.home);
    await waitFor(() => /"level":"debug".*connection \d+ closed/.test(fs.readFileSync(c.log, 'utf8')), 5000, 'debug line');
    for (const l of lines(c.log)) expect(() => JSON.parse(l), l).not.toThrow();
  });

  it('text format (the default): info lines as before, other levels named', async () => {
    const c = await detach({ log_level: 'info' });
    const text = fs.readFileSync(c.log, 'utf8');
    expect(text).toMatch(new RegExp(`^\\S+Z mzt-conductor\\[${c.pid}\\] conductor \\S+ ready on `, 'm'));
    await touch(c.home);
    expect(fs.readFileSync(c.log, 'utf8')).not.toContain('connection 1 opened'); // debug, filtered out
    fs.writeFileSync(path.join(c.home, 'config.json'), '[]');
    process.kill(c.pid, 'SIGHUP');
    await waitFor(() => / warn: config reload rejected/.test(fs.readFileSync(c.log, 'utf8')), 10_000, 'warn line');
    // config log_format switches to JSON lines at the reload that sets it.
    const before = lines(c.log).length;
    fs.writeFileSync(path.join(c.home, 'config.json'), JSON.stringify({ dashboard_enabled: false, log_format: 'json' }));
    process.kill(c.pid, 'SIGHUP');
    await waitFor(() => fs.readFileSync(c.log, 'utf8').includes('"msg":"config reloaded (log_format)"'), 10_000, 'JSON line');
    for (const l of lines(c.log).slice(before)) expect(JSON.parse(l).level).toBe('info');
  });

  it('conductor.log is rotated by size and stays bounded (--log-max-bytes 8192, --log-keep 2); a crash stack still lands in it', async () => {
    const max = 8192;
    // Crashes on SIGUSR2 with an uncaught exception, as a bug would (Node prints the stack to fd 2).
    const crash = path.join(makeHome('mzt-crash-'), 'crash.cjs');
    homes.push(path.dirname(crash));
    fs.writeFileSync(crash, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('crash-marker-7f3a') }));\n");
    const c = await detach({ log_level: 'debug' }, ['--log-max-bytes', String(max), '--log-keep', '2'], { NODE_OPTIONS: `--require ${crash}` });
    // ~100 bytes a line, 2 lines a connection: 400 connections write ~80 KB, ten times the bound.
    for (let i = 0; i < 400; i++) await touch(c.home);
    // Connection ids also count the CLI's own probes at start: the last one is 400 and a few.
    const lastId = async () => Number(/connection (\d+) closed\n$/.exec(fs.readFileSync(c.log, 'utf8'))?.[1] ?? 0);
    await waitFor(async () => (await lastId()) >= 400, 5000, 'last line');
    const files = fs.readdirSync(c.home).filter((f) => f.startsWith('conductor.log')).sort();
    expect(files).toEqual(['conductor.log', 'conductor.log.1', 'conductor.log.2']);
    const longest = Math.max(...lines(c.log).map((l) => l.length + 1));
    for (const f of files) {
      const size = fs.statSync(path.join(c.home, f)).size;
      expect(size, f).toBeLessThan(max + longest);
      if (f !== 'conductor.log') expect(size, f).toBeGreaterThanOrEqual(max); // rotated at the bound, not before
      // Whole lines only: rotation happens between writes.
      for (const l of lines(path.join(c.home, f))) expect(l, f).toMatch(/^\S+Z mzt-conductor\[\d+\] /);
    }
    // The newest lines are in order across the live file and .1: nothing lost at a rotation.
    const ids = [...lines(path.join(c.home, 'conductor.log.1')), ...lines(c.log)]
      .map((l) => /connection (\d+) closed/.exec(l)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(ids.at(-1)).toBe(await lastId());
    expect(ids.length).toBeGreaterThan(50);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1]! + 1);

    process.kill(c.pid, 'SIGUSR2');
    await waitFor(() => !pidAlive(c.pid), 10_000, 'conductor crashed');
    const text = fs.readFileSync(c.log, 'utf8');
    expect(text).toContain('Error: crash-marker-7f3a');
    expect(text).toMatch(/crash-marker-7f3a\n\s+at /);
  });

  it('mzt conductor restart keeps --log-format, --log-max-bytes and --log-keep of a detached conductor', async () => {
    const max = 8192;
    const c = await detach({ log_level: 'debug' }, ['--log-format', 'json', '--log-max-bytes', String(max), '--log-keep', '2']);
    const { stdout } = await run(process.execPath, [CLI, 'conductor', 'restart'], { env: { ...process.env, MZT_HOME: c.home } });
    const pid = Number(/→ (\d+)/.exec(stdout)![1]);
    pids.push(pid);
    expect(pid).not.toBe(c.pid);
    // ~150-byte JSON lines, 2 a connection: 200 connections write ~60 KB, well past 3 files of 8 KB.
    for (let i = 0; i < 200; i++) await touch(c.home);
    await waitFor(() => fs.readFileSync(c.log, 'utf8').includes('"level":"debug"'), 5000, 'a debug line');
    const files = fs.readdirSync(c.home).filter((f) => f.startsWith('conductor.log')).sort();
    expect(files).toEqual(['conductor.log', 'conductor.log.1', 'conductor.log.2']);
    const fromNew = lines(c.log).map((l) => JSON.parse(l) as { pid: number });
    expect(fromNew.length).toBeGreaterThan(0);
    for (const l of fromNew) expect(l.pid).toBe(pid);
    const longest = Math.max(...lines(c.log).map((l) => l.length + 1));
    for (const f of files) expect(fs.statSync(path.join(c.home, f)).size, f).toBeLessThan(max + longest);
  });

  it('bad log options are refused with a clear error', () => {
    const home = makeHome('mzt-log-bad-');
    homes.push(home);
    const start = (args: string[], stderr: 'pipe' | number = 'pipe') =>
      spawnSync(process.execPath, [CLI, 'conductor', 'start', ...args], { env: { ...process.env, MZT_HOME: home }, encoding: 'utf8', stdio: ['ignore', 'pipe', stderr], timeout: 15_000 });
    expect(start(['--detach', '--log-max-bytes', '100']).stderr).toMatch(/--log-max-bytes must be an integer of at least 4096, got 100/);
    expect(start(['--detach', '--log-keep', '0']).stderr).toMatch(/--log-keep must be an integer from 1 to 10, got 0/);
    expect(start(['--log-format', 'xml']).stderr).toMatch(/--log-format.*xml.*(text|json)/s);
    // In the foreground, stderr must be a file opened for append (a pipe here).
    const fg = start(['--log-max-bytes', '8192']);
    expect(fg.status).not.toBe(0);
    expect(fg.stderr).toMatch(/log rotation needs stderr to be a file opened for append.*not a regular file/);
    // A file opened without O_APPEND (2> instead of 2>>) would get a hole after each truncation.
    const fd = fs.openSync(path.join(home, 'truncating.log'), 'w');
    try {
      const r = start(['--log-max-bytes', '8192'], fd);
      expect(r.status).not.toBe(0);
      expect(fs.readFileSync(path.join(home, 'truncating.log'), 'utf8')).toMatch(/not opened for append/);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.existsSync(path.join(home, 'run', 'conductor.sock'))).toBe(false);
  });
});
