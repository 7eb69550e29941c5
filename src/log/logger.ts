/**
 * The conductor's log: one line per message on stderr, in text (as before: `ISO
 * mzt-conductor[pid] message`, with the level before the message unless it is `info`) or JSON
 * lines (`--log-format json` / config `log_format`), filtered by `log_level`.
 *
 * Why not pino: the conductor writes a few lines per job, not thousands per second, so pino's
 * speed buys nothing here, while its transports run in worker threads and its rotation needs
 * one more package (pino-roll). What we need — four levels, two formats, a level that changes on
 * SIGHUP, size rotation of conductor.log (rotation.ts) — is this file. Cost per line against
 * the former bare process.stderr.write: BENCHMARKS.md, "conductor log".
 *
 * Modules keep their `log: (line) => void` parameter: they get `logger.log`, whose optional
 * second argument is the level (default info), so a module that reports a failure says
 * `log(msg, 'warn')` after widening its type to `LogFn`, and the others need no change.
 */
import type { StderrRotation } from './rotation.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

/** What modules call; `level` defaults to info. */
export type LogFn = (line: string, level?: LogLevel) => void;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  /** The process name in each line (`mzt-conductor`). */
  name: string;
  level?: LogLevel;
  format?: LogFormat;
  rotation?: StderrRotation;
}

export class Logger {
  private min: number;
  private fmt: LogFormat;
  private readonly prefix: string;
  private readonly out: (line: string) => void;

  constructor(private readonly options: LoggerOptions) {
    this.min = RANK[options.level ?? 'info'];
    this.fmt = options.format ?? 'text';
    this.prefix = `${options.name}[${process.pid}]`;
    const rotation = options.rotation;
    this.out = rotation ? (line) => rotation.write(line) : (line) => void process.stderr.write(line);
  }

  /** Applies a (re)loaded config's level and format. */
  configure(level: LogLevel, format: LogFormat): void {
    this.min = RANK[level];
    this.fmt = format;
  }

  /** Bound, so it can be handed around as a plain function. */
  readonly log: LogFn = (line, level = 'info') => {
    if (RANK[level] < this.min) return;
    const time = new Date().toISOString();
    this.out(
      this.fmt === 'json'
        ? `${JSON.stringify({ time, level, pid: process.pid, name: this.options.name, msg: line })}\n`
        : `${time} ${this.prefix} ${level === 'info' ? '' : `${level}: `}${line}\n`,
    );
  };
}
