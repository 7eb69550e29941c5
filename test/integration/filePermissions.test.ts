/**
 * Only the owner gets in, file by file: whatever the umask, everything under MZT_HOME is
 * 0600 (directories 0700), and another account on the machine, with every directory of
 * MZT_HOME opened to it, still cannot read a file nor connect to the socket.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeHome, pidAlive, removeHome, startConductor, waitFor, type RunningConductor } from '../helpers/conductorProcess.js';
import { canCreateUsers, createSecondUser, type SecondUser } from '../helpers/secondUser.js';

interface Entry {
  path: string;
  mode: number;
  kind: 'dir' | 'file' | 'socket' | 'other';
}

function walk(dir: string, out: Entry[] = []): Entry[] {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other';
    out.push({ path: p, mode: st.mode & 0o777, kind });
    if (kind === 'dir') walk(p, out);
  }
  return out;
}

const modeList = (entries: Entry[]) => entries.map((e) => `${e.mode.toString(8)} ${e.kind} ${e.path}`).join('\n');

/** Run the CLI in MZT_HOME under umask 000 (through sh: Node cannot set a child's umask). */
function cliUnderUmask0(home: string, args: string[], timeoutMs = 60_000) {
  return spawnSync('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, CLI, ...args], {
    env: { ...process.env, MZT_HOME: home },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}

/** A job, some snapshots (monitor.db, monitor.jsonl), and the databases' -wal/-shm in place. */
async function exercise(home: string, cli: (args: string[]) => { status: number | null; stdout: string; stderr: string }) {
  const submitted = cli(['submit', '--name', 'secret-argv', '--wait', '--', 'sh', '-c', 'echo out; echo err >&2']);
  expect(submitted.status, submitted.stderr).toBe(0);
  await waitFor(() => {
    try {
      return fs.readFileSync(path.join(home, 'monitor.jsonl'), 'utf8').split('\n').length > 3;
    } catch {
      return false;
    }
  }, 20_000, 'a few snapshots in monitor.jsonl');
  for (const f of ['events.db-wal', 'events.db-shm', 'monitor.db-wal', 'monitor.db-shm']) {
    expect(fs.existsSync(path.join(home, f)), f).toBe(true);
  }
}

describe('under umask 000', () => {
  let home: string | undefined;
  let pid: number | undefined;
  afterAll(async () => {
    if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    if (home) removeHome(home);
  });

  it('every file the conductor keeps is 0600 and every directory 0700 (detached start, job, snapshots)', async () => {
    home = makeHome();
    const h = home;
    // What an older conductor or an editor under umask 000 left behind: tightened at start.
    fs.writeFileSync(path.join(h, 'config.json'), JSON.stringify({ dashboard_enabled: false, profiler_interval_seconds: 0.2 }));
    fs.chmodSync(path.join(h, 'config.json'), 0o666);
    fs.writeFileSync(path.join(h, 'events.db'), ''); // an empty file is an empty database
    fs.chmodSync(path.join(h, 'events.db'), 0o644);

    const started = cliUnderUmask0(h, ['conductor', 'start', '--detach']);
    expect(started.status, started.stdout + started.stderr).toBe(0);
    pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
    await exercise(h, (args) => cliUnderUmask0(h, args));
    expect(fs.existsSync(path.join(h, 'conductor.log'))).toBe(true);

    const entries = walk(h);
    const wrong = entries.filter((e) => (e.kind === 'dir' ? e.mode !== 0o700 : e.mode !== 0o600));
    expect(modeList(wrong), `all of MZT_HOME:\n${modeList(entries)}`).toBe('');
    expect(fs.statSync(h).mode & 0o777).toBe(0o700);
    expect(entries.filter((e) => e.kind === 'file').length).toBeGreaterThanOrEqual(10);

    const stopped = cliUnderUmask0(h, ['conductor', 'stop']);
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(fs.readFileSync(path.join(h, 'conductor.log'), 'utf8')).toMatch(/tightened .*config\.json \(was 666\): only the owner may read it/);
  }, 90_000);
});

describe.skipIf(!canCreateUsers())('as another account on the machine', () => {
  let home: string | undefined;
  let conductor: RunningConductor | undefined;
  let other: SecondUser | undefined;
  afterAll(async () => {
    await conductor?.stop();
    other?.remove();
    if (home) removeHome(home);
  });

  it('cannot connect to the socket nor open any file under MZT_HOME, even with every directory opened', async () => {
    home = makeHome();
    const h = home;
    conductor = await startConductor(h, { config: { dashboard_enabled: false, profiler_interval_seconds: 0.2 } });
    const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, MZT_HOME: h }, encoding: 'utf8' });
    await exercise(h, cli);
    other = createSecondUser();

    // As if ~/.mzt and everything in it were traversable: the files themselves must refuse.
    // (/tmp, the parent, is 1777.)
    const entries = walk(h);
    for (const dir of [h, ...entries.filter((e) => e.kind === 'dir').map((e) => e.path)]) fs.chmodSync(dir, 0o711);
    const targets = entries.filter((e) => e.kind === 'file' || e.kind === 'socket').map((e) => e.path);
    expect(targets).toContain(conductor.socketPath);
    expect(targets).toContain(path.join(h, 'events.db'));

    const script = `
      import fs from 'node:fs';
      import net from 'node:net';
      const targets = ${JSON.stringify(targets)};
      const socketPath = ${JSON.stringify(conductor.socketPath)};
      const result = {};
      for (const t of targets) {
        try { fs.closeSync(fs.openSync(t, 'r')); result[t] = 'opened'; } catch (err) { result[t] = err.code; }
      }
      result.connect = await new Promise((resolve) => {
        const s = net.createConnection({ path: socketPath });
        s.on('connect', () => { s.destroy(); resolve('connected'); });
        s.on('error', (err) => resolve(err.code));
      });
      process.stdout.write(JSON.stringify(result));
    `;
    const r = other.node(script);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, string>;
    expect(result.connect).toBe('EACCES');
    const readable = targets.filter((t) => result[t] !== 'EACCES').map((t) => `${result[t]} ${t}`);
    expect(readable.join('\n'), `as ${other.name}:\n${modeList(walk(h))}`).toBe('');
    // The account is real: it reads what is meant for everyone.
    expect(other.run(['cat', '/etc/hostname']).status).toBe(0);
  }, 90_000);
});
