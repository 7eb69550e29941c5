/**
 * A job's log, written compactly: `<jobsDir>/<job_id>/output.log` holds the job's bytes as they
 * came, line by line, with a small header line (`\x1e<ISO ts> <sheet> <out|err|sys>`) only where
 * the sheet or stream changes, every 50 ms and every 64 KiB — not one per line, so 100 MB of
 * `y\n` costs ~100 MB, not 1.6 GB. Readers (jobLogRead.ts) render each line as the historic
 * `<ts> <sheet> <out|err|sys> <text>`, so stdout, stderr and the conductor's markers stay
 * distinguishable and in order. A job line that starts with \x1e or \x1f is stored behind a
 * \x1f escape. Each file opens with `\x1emzt-log 2 <base>\n`: the logical offset of its first
 * byte (logs without it are the previous, one-header-per-line format and read as they are).
 *
 * Cap (`max_log_bytes_per_job`): the first half stays in output.log (the head); after it the
 * log continues in output.tail.log, which is renamed to output.tail.1.log (replacing the older
 * one) each time it reaches a quarter of the cap — so the start and the latest output are
 * kept and the files never hold more than the cap.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';

export type LogStream = 'out' | 'err' | 'sys';

export const LOG_MAGIC = '\x1emzt-log 2 ';
export const HEAD_FILE = 'output.log';
export const TAIL_FILE = 'output.tail.log';
export const OLD_TAIL_FILE = 'output.tail.1.log';
/** Longer lines are cut into pieces of this size (readers rely on it to make progress). */
export const MAX_LINE_BYTES = 64 * 1024;
/** A header is repeated at least this often, so a reader finds one within this distance. */
export const HEADER_EVERY_BYTES = 64 * 1024;
const HEADER_EVERY_MS = 50;
/** Above this much queued log data, the job's pipes are paused until the file catches up. */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** Most bytes of one pipe handled per turn of the event loop. */
const TURN_BYTES = 128 * 1024;
/** Room kept at the end of the head for the "capped" marker. */
const MARKER_ROOM = 512;
export const DEFAULT_MAX_LOG_BYTES = 1024 * 1024 * 1024;

type Op = { buf: Buffer; done?: () => void } | { open: string; renameFrom?: string } | { close: () => void };

export interface JobLogOptions {
  maxBytes?: number;
  /** Called once, when the head is full and the middle of the log starts being dropped. */
  onCapped?: (info: { max_log_bytes: number; head_bytes: number }) => void;
  /** Go on after an existing log (a retried job, a re-adopted one): same logical offsets, same cap. */
  continueExisting?: boolean;
  /**
   * With continueExisting (live_restore, liveRestore/spool.ts): the newest segment is first cut
   * back to this point — what was written after the spool checkpoint is read again — when it
   * is still that segment.
   */
  truncateTo?: LogPosition;
}

/** Where a segment of the log ends: its file name, its logical base and its size in bytes. */
export interface LogPosition {
  file: string;
  base: number;
  bytes: number;
}

export class JobLog {
  readonly path: string;
  private readonly dir: string;
  private readonly maxBytes: number;
  private fd: number | undefined;
  private readonly queue: Op[] = [];
  private queuedBytes = 0;
  private writing = false;
  private readonly paused = new Set<Readable>();
  private segment: 'head' | 'tail' = 'head';
  private fileBytes = 0;
  private logical = 0;
  private last: { sheet: number; stream: LogStream; at: number; bytes: number } | undefined;
  private capped = false;
  /** Logical offset of the newest segment's first data byte (its magic line says so too). */
  private segmentBase = 0;

  constructor(dir: string, private readonly opts: JobLogOptions = {}) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = dir;
    this.path = path.join(dir, HEAD_FILE);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
    if (opts.continueExisting && this.continueAfter(opts.truncateTo)) return;
    this.fd = fs.openSync(this.path, 'a', 0o600);
    this.startSegment(0);
  }

  /** Open the newest segment of an existing log for appending; false if there is none to continue. */
  private continueAfter(truncateTo?: LogPosition): boolean {
    const tail = path.join(this.dir, TAIL_FILE);
    const capped = fs.existsSync(tail);
    const file = capped ? tail : this.path;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r+');
    } catch {
      return false;
    }
    let size = fs.fstatSync(fd).size;
    const first = Buffer.alloc(Math.min(64, size));
    fs.readSync(fd, first, 0, first.length, 0);
    const nl = first.indexOf(0x0a);
    const text = first.toString('latin1');
    if (!text.startsWith(LOG_MAGIC) || nl < 0) {
      fs.closeSync(fd); // empty, or the previous format (one prefix per line): not continued
      return false;
    }
    const base = Number(text.slice(LOG_MAGIC.length, nl));
    const t = truncateTo;
    if (t && t.file === path.basename(file) && t.base === base && t.bytes >= nl + 1 && t.bytes < size) {
      fs.ftruncateSync(fd, t.bytes);
      size = t.bytes;
    }
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    fs.closeSync(fd);
    this.fd = fs.openSync(file, 'a', 0o600);
    this.segment = capped ? 'tail' : 'head';
    this.capped = capped;
    this.fileBytes = size;
    this.segmentBase = base;
    this.logical = base + size - nl - 1;
    // A conductor killed mid-line left it unterminated: end it, or the next header joins it.
    if (last[0] !== 0x0a) this.append(Buffer.from('\n'));
    return true;
  }

  /** Where the newest segment ends once everything queued so far is written. */
  position(): LogPosition {
    return { file: this.segment === 'head' ? HEAD_FILE : TAIL_FILE, base: this.segmentBase, bytes: this.fileBytes };
  }

  /**
   * Complete lines (each ending in \n) from somewhere other than a pipe (a sheet's spool,
   * liveRestore/). Resolves once they are in the file, with where the file ends after them.
   */
  appendLines(sheetNum: number, stream: 'out' | 'err', data: Buffer): Promise<LogPosition> {
    return new Promise((resolve) => {
      let written = false;
      let at: LogPosition | undefined;
      this.emit(sheetNum, stream, linesOf(data), () => {
        written = true;
        if (at) resolve(at);
      });
      at = this.position();
      if (written) resolve(at);
    });
  }

  write(sheetNum: number, stream: LogStream, text: string): void {
    this.emit(sheetNum, stream, linesOf(Buffer.from(`${text}\n`)));
  }

  /** Resolves once this line (and so every line before it) is in the file, or the write failed. */
  writeFlushed(sheetNum: number, stream: LogStream, text: string): Promise<void> {
    return new Promise((resolve) => this.emit(sheetNum, stream, linesOf(Buffer.from(`${text}\n`)), resolve));
  }

  /**
   * Copy a child's pipe into the log a chunk at a time (complete lines; a partial last line
   * waits for its newline), pausing the pipe while the file is behind. Resolves when the pipe
   * ends, fails or is destroyed.
   */
  follow(source: Readable, sheetNum: number, stream: 'out' | 'err'): Promise<void> {
    let pending: Buffer | undefined;
    let turnBytes = 0;
    return new Promise((resolve) => {
      source.on('data', (chunk: Buffer | string) => {
        // At most TURN_BYTES per pipe per turn of the event loop: a flood then yields to
        // sockets and timers between its reads instead of running 32 reads back to back.
        if (turnBytes === 0) setImmediate(() => (turnBytes = 0));
        turnBytes += chunk.length;
        if (turnBytes >= TURN_BYTES && !source.isPaused()) {
          source.pause();
          setImmediate(() => {
            if (!this.paused.has(source)) source.resume();
          });
        }
        let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (pending) data = Buffer.concat([pending, data]);
        pending = undefined;
        const last = data.lastIndexOf(0x0a);
        if (last < 0 && data.length <= MAX_LINE_BYTES) {
          pending = data;
        } else {
          const cut = last >= 0 ? last + 1 : data.length;
          this.emit(sheetNum, stream, linesOf(data.subarray(0, cut)));
          if (cut < data.length) pending = Buffer.from(data.subarray(cut)); // copy: do not pin the chunk
        }
        if (this.queuedBytes > MAX_QUEUED_BYTES && !source.isPaused()) {
          source.pause();
          this.paused.add(source);
        }
      });
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        this.paused.delete(source);
        if (pending) this.emit(sheetNum, stream, linesOf(Buffer.concat([pending, Buffer.from('\n')])));
        pending = undefined;
        resolve();
      };
      source.on('end', finish);
      source.on('error', finish);
      source.on('close', finish);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.push({ close: resolve }));
  }

  private header(sheet: number, stream: LogStream): Buffer | undefined {
    const now = Date.now();
    const l = this.last;
    if (l && l.sheet === sheet && l.stream === stream && now - l.at < HEADER_EVERY_MS && l.bytes < HEADER_EVERY_BYTES) return undefined;
    this.last = { sheet, stream, at: now, bytes: 0 };
    return Buffer.from(`\x1e${new Date(now).toISOString()} ${sheet} ${stream}\n`);
  }

  private emit(sheet: number, stream: LogStream, body: Buffer, done?: () => void): void {
    let head = this.header(sheet, stream);
    const size = (head?.length ?? 0) + body.length;
    if (this.segment === 'head' && this.fileBytes + size > Math.floor(this.maxBytes / 2) - MARKER_ROOM) {
      this.capHead();
      head = this.header(sheet, stream);
    } else if (this.segment === 'tail' && this.fileBytes + size > Math.floor(this.maxBytes / 4)) {
      this.push({ open: path.join(this.dir, TAIL_FILE), renameFrom: OLD_TAIL_FILE });
      this.startSegment(this.logical);
      head = this.header(sheet, stream);
    }
    if (head) this.append(head);
    this.last!.bytes += body.length;
    this.append(body, done);
  }

  private capHead(): void {
    const headBytes = this.fileBytes;
    this.last = undefined;
    const note = `log reached max_log_bytes_per_job=${this.maxBytes}: keeping its first ${headBytes} bytes and the latest output; the middle is dropped`;
    this.append(Buffer.concat([this.header(0, 'sys')!, Buffer.from(`${note}\n`)]));
    this.segment = 'tail';
    this.push({ open: path.join(this.dir, TAIL_FILE) });
    this.startSegment(this.logical);
    if (!this.capped) {
      this.capped = true;
      this.opts.onCapped?.({ max_log_bytes: this.maxBytes, head_bytes: headBytes });
    }
  }

  /** A new file: the magic line with its logical base, and a fresh header before the next line. */
  private startSegment(base: number): void {
    this.segmentBase = base;
    const magic = Buffer.from(`${LOG_MAGIC}${base}\n`);
    this.fileBytes = 0;
    this.last = undefined;
    this.push({ buf: magic });
    this.fileBytes = magic.length;
  }

  private append(buf: Buffer, done?: () => void): void {
    this.fileBytes += buf.length;
    this.logical += buf.length;
    this.push({ buf, done });
  }

  private push(op: Op): void {
    this.queue.push(op);
    if ('buf' in op) this.queuedBytes += op.buf.length;
    this.pump();
  }

  /** One write in flight at a time (several queued buffers in one writev): order is the queue's. */
  private pump(): void {
    if (this.writing) return;
    const next = this.queue[0];
    if (next && !('buf' in next)) {
      // Closing, renaming (which frees the replaced file's blocks: tens of ms for a large one)
      // and opening run off the event loop, in the queue's order.
      this.queue.shift();
      this.writing = true;
      const closed = this.fd;
      this.fd = undefined;
      void this.reopen(closed, next).then(() => {
        this.writing = false;
        if ('close' in next) next.close();
        this.pump();
      });
      return;
    }
    const bufs: Buffer[] = [];
    const dones: Array<() => void> = [];
    let bytes = 0;
    while (this.queue.length > 0 && 'buf' in this.queue[0]! && bytes < 1024 * 1024) {
      const op = this.queue.shift() as { buf: Buffer; done?: () => void };
      bufs.push(op.buf);
      bytes += op.buf.length;
      if (op.done) dones.push(op.done);
    }
    if (bufs.length === 0) return;
    const finished = () => {
      this.writing = false;
      this.queuedBytes -= bytes;
      for (const d of dones) d();
      if (this.queuedBytes <= MAX_QUEUED_BYTES / 2) {
        for (const r of this.paused) r.resume();
        this.paused.clear();
      }
      this.pump();
    };
    if (this.fd === undefined) return finished();
    this.writing = true;
    // Errors (a full disk) drop this piece of the log; they must not take the conductor down.
    writeAll(this.fd, bufs, finished);
  }

  private async reopen(closed: number | undefined, op: { open: string; renameFrom?: string } | { close: () => void }): Promise<void> {
    try {
      if (closed !== undefined) await promisify(fs.close)(closed);
      if ('open' in op) {
        if (op.renameFrom) await fs.promises.rename(op.open, path.join(this.dir, op.renameFrom));
        this.fd = await promisify(fs.open)(op.open, 'w', 0o600);
      }
    } catch {
      this.fd = undefined; // the log stops here rather than the conductor
    }
  }
}

/** writev until every byte is written (a short write continues), then `done`; errors end it. */
function writeAll(fd: number, bufs: Buffer[], done: () => void): void {
  fs.writev(fd, bufs, (err, written) => {
    if (err) return done();
    let total = 0;
    for (const b of bufs) total += b.length;
    if (written >= total) return done();
    const rest = Buffer.concat(bufs).subarray(written);
    writeAll(fd, [rest], done);
  });
}

const needsEscape = (b: number | undefined) => b === 0x1e || b === 0x1f;

/**
 * `data` (complete lines, each ending in \n) as stored: lines over MAX_LINE_BYTES cut (at a
 * UTF-8 character boundary), lines that start with \x1e or \x1f escaped. The common case, no
 * long line and no such byte, is the chunk itself.
 */
export function linesOf(data: Buffer): Buffer {
  if (data.length <= MAX_LINE_BYTES && data.indexOf(0x1e) < 0 && data.indexOf(0x1f) < 0) return data;
  const parts: Buffer[] = [];
  const esc = Buffer.from([0x1f]);
  const nl = Buffer.from('\n');
  let at = 0;
  while (at < data.length) {
    let end = data.indexOf(0x0a, at);
    if (end < 0) end = data.length;
    let start = at;
    let first = true;
    while (first || start < end) {
      let cut = Math.min(end, start + MAX_LINE_BYTES);
      if (cut < end) while (cut > start + 1 && (data[cut]! & 0xc0) === 0x80) cut--; // not inside a character
      if (needsEscape(data[start])) parts.push(esc);
      parts.push(data.subarray(start, cut), nl);
      start = cut;
      first = false;
    }
    at = end + 1;
  }
  return Buffer.concat(parts);
}
