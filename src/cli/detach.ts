/**
 * `mzt conductor start --detach`: start the conductor in the background, its output in
 * conductor.log, and wait until it answers. When it does not come up, say why here (a live
 * conductor and its pid, or the error the child wrote), not only where the log is. The log
 * options it ran with are recorded, so `mzt conductor restart` starts the next one with them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ConductorPaths } from '../shared/paths.js';
import { ensurePrivateFile, writeJsonAtomic } from '../shared/privateFiles.js';
import { probeHello } from '../ipc/helloProbe.js';
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, checkRotation } from '../log/rotation.js';
import type { LogFormat } from '../log/logger.js';

/** How the detached conductor writes conductor.log (rotated by size: it would grow forever). */
/** A running conductor as its hello answer names it (pid, and start time against pid reuse). */
export interface ConductorIdentity {
  pid?: unknown;
  started_at?: unknown;
}

export interface DetachedLog {
  maxBytes?: number;
  keep?: number;
  format?: LogFormat;
}

/** Starts it; resolves with its pid once it answers hello. */
export async function startDetached(p: ConductorPaths, entry: string, timeoutSeconds: number, log: DetachedLog = {}): Promise<number> {
  const rotation = { maxBytes: log.maxBytes ?? DEFAULT_LOG_MAX_BYTES, keep: log.keep ?? DEFAULT_LOG_KEEP };
  checkRotation(rotation); // before anything starts
  const live = await probeHello(p.socketPath, 2000);
  if (live.alive) throw new Error(alreadyRunning(p, live.hello.pid));
  fs.mkdirSync(p.home, { recursive: true, mode: 0o700 });
  ensurePrivateFile(p.logFile);
  // Append mode: the child rotates it by copy-and-truncate, which needs O_APPEND (log/rotation.ts).
  const logFd = fs.openSync(p.logFile, 'a');
  const logStart = fs.fstatSync(logFd).size;
  const args = [entry, 'conductor', 'start', '--log-max-bytes', String(rotation.maxBytes), '--log-keep', String(rotation.keep)];
  if (log.format) args.push('--log-format', log.format);
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: process.env,
  });
  fs.closeSync(logFd);
  child.unref();
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const probe = await probeHello(p.socketPath, 1000);
    if (probe.alive && probe.hello.pid === child.pid) {
      // Only the conductor that answers is recorded: one that lost a race to start must not overwrite it.
      recordDetachedLog(p, probe.hello, { ...rotation, format: log.format });
      return child.pid!;
    }
    if (child.exitCode !== null) {
      // Started at the same time as another one, which won: name it too.
      if (probe.alive) throw new Error(alreadyRunning(p, probe.hello.pid));
      throw new Error(`the conductor exited (code ${child.exitCode}): ${childError(p.logFile, logStart)}; log ${p.logFile}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`the conductor (pid ${child.pid}) is not answering after ${timeoutSeconds} s; see ${p.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Beside the socket and pid file: it describes the conductor running now. */
function detachedLogFile(p: ConductorPaths): string {
  return path.join(p.runDir, 'detached-log.json');
}

/** Best effort: the conductor is running by now; without the record a restart uses the defaults. */
function recordDetachedLog(p: ConductorPaths, conductor: ConductorIdentity, log: DetachedLog): void {
  try {
    writeJsonAtomic(detachedLogFile(p), { pid: conductor.pid, started_at: conductor.started_at, ...log });
  } catch {
    /* the run directory went away under it */
  }
}

/**
 * The log options the detached conductor `conductor` was started with; none when it was started in
 * the foreground, or its record is missing or unusable (a restart must not fail on it after
 * the old conductor is already stopped).
 */
export function detachedLogOf(p: ConductorPaths, conductor: ConductorIdentity): DetachedLog {
  try {
    const r = JSON.parse(fs.readFileSync(detachedLogFile(p), 'utf8')) as DetachedLog & ConductorIdentity;
    // The pid and its start time: a later conductor that got the same pid is not the recorded one.
    if (r.pid !== conductor.pid || r.started_at !== conductor.started_at) return {};
    checkRotation({ maxBytes: r.maxBytes!, keep: r.keep! });
    return { maxBytes: r.maxBytes, keep: r.keep, format: r.format === 'json' || r.format === 'text' ? r.format : undefined };
  } catch {
    return {};
  }
}

function alreadyRunning(p: ConductorPaths, pid: unknown): string {
  return `a conductor is already running on ${p.socketPath} (pid ${typeof pid === 'number' ? pid : 'unknown'}); not starting another`;
}

/** The CLI's last error line (`mzt: ...`) among what the child appended to the log. */
function childError(logFile: string, from: number): string {
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(from, size - 64 * 1024);
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n').filter((l) => l.startsWith('mzt: '));
      return lines.at(-1)?.slice(5) ?? 'no error was written';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return 'no error was written';
  }
}
