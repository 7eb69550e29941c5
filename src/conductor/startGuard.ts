/**
 * Only one conductor per socket, and only its owner gets in.
 *
 * - The run directory is created 0700 and must be a real directory owned by us
 *   (ensurePrivateDir, shared/privateFiles.ts).
 * - A start lock (O_EXCL file) serialises concurrent starters, so two of them cannot both
 *   decide a socket is stale and steal it from each other.
 * - An existing socket is live only if it answers `hello`; then we refuse. Otherwise it is
 *   a leftover of a crash and is removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { probeHello } from '../ipc/helloProbe.js';

export class AlreadyRunningError extends Error {
  constructor(
    message: string,
    readonly pid?: number,
  ) {
    super(message);
    this.name = 'AlreadyRunningError';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the start lock; returns its release function. */
export function acquireStartLock(lockFile: string, staleAfterMs = 30_000): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockFile, 'wx', 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(lockFile, 'utf8') === String(process.pid)) fs.unlinkSync(lockFile);
        } catch {
          /* gone already */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      let age = 0;
      try {
        holder = Number(fs.readFileSync(lockFile, 'utf8'));
        age = Date.now() - fs.statSync(lockFile).mtimeMs;
      } catch {
        continue; // released between our open and read: try again
      }
      if (Number.isInteger(holder) && holder > 0 && pidAlive(holder) && age < staleAfterMs) {
        throw new AlreadyRunningError(`another conductor (pid ${holder}) is starting right now`, holder);
      }
      fs.rmSync(lockFile, { force: true }); // its holder died mid-start
    }
  }
  throw new AlreadyRunningError('could not take the start lock');
}

/** Make the socket path free to bind, or throw AlreadyRunningError if a live conductor has it. */
export async function clearStaleSocket(socketPath: string, log: (msg: string) => void): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (st.isSymbolicLink()) throw new Error(`${socketPath} is a symlink; refusing to use or remove it`);
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to remove it`);
  const probe = await probeHello(socketPath);
  if (probe.alive) {
    const pid = typeof probe.hello.pid === 'number' ? probe.hello.pid : undefined;
    throw new AlreadyRunningError(
      `a conductor is already running on ${socketPath}${pid ? ` (pid ${pid})` : ''}`,
      pid,
    );
  }
  log(`removing stale socket ${socketPath} (${probe.reason})`);
  fs.rmSync(socketPath, { force: true });
}

export function writePidFile(pidFile: string): void {
  const tmp = path.join(path.dirname(pidFile), `.conductor.pid.${process.pid}`);
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  fs.renameSync(tmp, pidFile);
}

export function removePidFile(pidFile: string): void {
  try {
    if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    /* not ours or gone */
  }
}
