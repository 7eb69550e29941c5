/**
 * Size rotation of the conductor's log when its stderr is a file (`mzt conductor start
 * --detach` points it at $MZT_HOME/conductor.log), so the log is bounded: at most `maxBytes`
 * (plus the last line) in the file and `keep` rotated copies (`conductor.log.1` newest).
 *
 * Rotation copies the file, then truncates it in place (logrotate's copytruncate) instead of
 * renaming it: fd 2 keeps naming the live file, so what Node writes there by itself — an
 * uncaught exception's stack, a fatal error, a worker thread's stderr — still lands in
 * conductor.log. That needs the file opened for append (O_APPEND), or writes after the
 * truncation would leave a hole the size of the old file; open() refuses anything else.
 * The copy blocks the event loop once per `maxBytes` of log (a few ms for 10 MiB).
 */
import fs from 'node:fs';

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_KEEP = 2;
/** Below this a rotation would happen every few lines. */
export const MIN_LOG_MAX_BYTES = 4096;
export const MAX_LOG_KEEP = 10;
const O_APPEND = 0o2000;

export interface RotationOptions {
  maxBytes: number;
  keep: number;
}

/** Throws an error naming the option when a bound is out of range. */
export function checkRotation(options: RotationOptions): void {
  if (!Number.isInteger(options.maxBytes) || options.maxBytes < MIN_LOG_MAX_BYTES) {
    throw new Error(`--log-max-bytes must be an integer of at least ${MIN_LOG_MAX_BYTES}, got ${options.maxBytes}`);
  }
  if (!Number.isInteger(options.keep) || options.keep < 1 || options.keep > MAX_LOG_KEEP) {
    throw new Error(`--log-keep must be an integer from 1 to ${MAX_LOG_KEEP}, got ${options.keep}`);
  }
}

export class StderrRotation {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly options: RotationOptions,
  ) {}

  /** Rotation of this process's stderr; a clear error when stderr cannot be rotated. */
  static open(options: RotationOptions, fd = 2): StderrRotation {
    checkRotation(options);
    const why = 'log rotation needs stderr to be a file opened for append (--detach does that, or 2>>FILE)';
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${why}; it is not a regular file`);
    const flags = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    if (flags === undefined || (parseInt(flags, 8) & O_APPEND) === 0) throw new Error(`${why}; it is not opened for append`);
    const path = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (path.endsWith(' (deleted)')) throw new Error(`${why}; its file was deleted`);
    return new StderrRotation(path, fd, options);
  }

  /** Writes one line, then rotates when the file (whoever wrote to it) reached the bound. */
  write(line: string): void {
    try {
      fs.writeSync(this.fd, line);
      if (fs.fstatSync(this.fd).size >= this.options.maxBytes) this.rotate();
    } catch {
      // A full disk must not take the conductor down for a log line; the store reports its own errors.
    }
  }

  /** conductor.log.(k) → .(k+1), a copy of the live file → .1, the live file emptied. */
  rotate(): void {
    try {
      for (let i = this.options.keep - 1; i >= 1; i--) {
        try {
          fs.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      fs.copyFileSync(this.path, `${this.path}.1`);
    } finally {
      // Even when the copy failed (a full disk): the bound matters more than the old lines.
      fs.ftruncateSync(this.fd, 0);
    }
  }
}
