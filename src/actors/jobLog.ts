/**
 * A job's log: `<jobsDir>/<job_id>/output.log`, one line per output line,
 * `<ISO-8601 ts> <sheet_num> <out|err|sys> <text>`, so stdout, stderr and the conductor's
 * own markers stay distinguishable and in the order they happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export type LogStream = 'out' | 'err' | 'sys';

/** Longer lines are cut into pieces of this size. */
const MAX_LINE_CHARS = 64 * 1024;
/** Above this much unwritten log data, the child's pipes are paused until the file catches up. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export class JobLog {
  readonly path: string;
  private readonly stream: fs.WriteStream;
  private readonly paused = new Set<Readable>();

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = path.join(dir, 'output.log');
    this.stream = fs.createWriteStream(this.path, { flags: 'a', mode: 0o600 });
    this.stream.on('error', () => undefined); // a full disk must not take the conductor down
    this.stream.on('drain', () => {
      for (const r of this.paused) r.resume();
      this.paused.clear();
    });
  }

  write(sheetNum: number, stream: LogStream, text: string): void {
    this.writeLine(sheetNum, stream, text);
  }

  /**
   * Writes a line and resolves once it (and so every line before it) is in the file, or the
   * file failed: a sheet's end is recorded only after its log is complete on disk.
   */
  writeFlushed(sheetNum: number, stream: LogStream, text: string): Promise<void> {
    return new Promise((resolve) => this.writeLine(sheetNum, stream, text, () => resolve()));
  }

  private writeLine(sheetNum: number, stream: LogStream, text: string, written?: () => void): void {
    const ts = new Date().toISOString();
    for (let at = 0; at < text.length || at === 0; at += MAX_LINE_CHARS) {
      const last = at + MAX_LINE_CHARS >= text.length;
      this.stream.write(`${ts} ${sheetNum} ${stream} ${text.slice(at, at + MAX_LINE_CHARS)}\n`, last ? written : undefined);
      if (last) break;
    }
  }

  /** Copy a child's pipe into the log line by line, with backpressure to the child. */
  follow(source: Readable, sheetNum: number, stream: 'out' | 'err'): Promise<void> {
    source.setEncoding('utf8');
    let partial = '';
    return new Promise((resolve) => {
      source.on('data', (chunk: string) => {
        const text = partial + chunk;
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        while (partial.length > MAX_LINE_CHARS) {
          lines.push(partial.slice(0, MAX_LINE_CHARS));
          partial = partial.slice(MAX_LINE_CHARS);
        }
        for (const line of lines) this.write(sheetNum, stream, line);
        if (this.stream.writableLength > MAX_BUFFERED_BYTES) {
          source.pause();
          this.paused.add(source);
        }
      });
      const finish = () => {
        if (partial.length > 0) this.write(sheetNum, stream, partial);
        partial = '';
        resolve();
      };
      source.on('end', finish);
      source.on('error', finish);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

/** The last `lines` complete lines of a log. */
export function readLogTail(file: string, lines: number): { lines: string[]; size: number; next_offset: number } {
  const size = fs.statSync(file).size;
  if (lines === 0 || size === 0) return { lines: [], size, next_offset: size };
  const fd = fs.openSync(file, 'r');
  try {
    // Read backwards in blocks until enough newlines are seen.
    let start = size;
    let text = '';
    const block = 64 * 1024;
    while (start > 0 && text.split('\n').length <= lines + 1) {
      const from = Math.max(0, start - block);
      const buf = Buffer.alloc(start - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      text = buf.toString('utf8') + text;
      start = from;
      if (text.length > 64 * 1024 * 1024) break;
    }
    const end = text.lastIndexOf('\n');
    const complete = end < 0 ? [] : text.slice(0, end).split('\n');
    // Offsets are bytes: measure the unfinished last line in bytes, not UTF-16 units.
    const next = size - Buffer.byteLength(text.slice(end + 1));
    return { lines: complete.slice(-lines), size, next_offset: end < 0 ? start : Math.max(0, next) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Complete lines from `offset`, at most `maxBytes`; next_offset follows the last complete line. */
export function readLogFrom(file: string, offset: number, maxBytes: number): { lines: string[]; size: number; next_offset: number } {
  const size = fs.statSync(file).size;
  if (offset >= size) return { lines: [], size, next_offset: Math.min(offset, size) };
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(maxBytes, size - offset));
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    const end = buf.subarray(0, n).lastIndexOf(0x0a);
    if (end < 0) {
      // One line longer than maxBytes cannot happen (lines are cut at 64 KiB); wait for more.
      return { lines: [], size, next_offset: offset };
    }
    return { lines: buf.subarray(0, end).toString('utf8').split('\n'), size, next_offset: offset + end + 1 };
  } finally {
    fs.closeSync(fd);
  }
}
