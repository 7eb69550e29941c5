/**
 * Only the owner reads what the conductor keeps: every file 0600, every directory 0700,
 * whatever the umask it was started with.
 *
 * - A 077 umask for the whole process covers whatever creates files later (job logs, JSONL,
 *   the checkpoint worker, the dashboard), including code that names no mode.
 * - SQLite creates its databases 0644 whatever the umask allows, and its -wal/-shm lazily
 *   with the database file's mode: so the database files are created 0600 before it opens them.
 * - Files an older conductor (or an editor) left readable are tightened at start: the event
 *   log holds every job's argv and environment, config.json may hold the dashboard token.
 *
 * Here, below every folder that writes such files (conductor, cli, dashboard), so none of
 * them reaches into another for it.
 */
import fs from 'node:fs';
import path from 'node:path';

export const PRIVATE_UMASK = 0o077;

/** Create `dir` 0700 (parents too) and insist it is a real directory of ours, nobody else's to read. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory (a symlink or file is in the way)`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new Error(`${dir} belongs to uid ${st.uid}, not to us (uid ${process.getuid()}); refusing to use it`);
  }
  if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/** Create `file` 0600 if missing; take group/other bits off it if present. */
export function ensurePrivateFile(file: string): void {
  const fd = fs.openSync(file, 'a', 0o600);
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o077) !== 0) fs.fchmodSync(fd, st.mode & 0o700);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Take group/other bits off the files and directories directly in each of `dirs` that we own
 * (symlinks, sockets and other people's files are left alone). Returns what it changed.
 */
export function tightenEntries(dirs: string[]): string[] {
  const uid = process.getuid?.();
  const changed: string[] = [];
  for (const dir of dirs) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile() && !entry.isDirectory()) continue;
      const file = path.join(dir, entry.name);
      try {
        const st = fs.lstatSync(file);
        if ((st.mode & 0o077) === 0 || (uid !== undefined && st.uid !== uid)) continue;
        fs.chmodSync(file, st.mode & 0o700);
        changed.push(`${file} (was ${(st.mode & 0o777).toString(8)})`);
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return changed;
}

/** Write `value` as JSON, 0600, by rename: a reader sees the old file or the new one, never half. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  fs.renameSync(tmp, file);
}
