/**
 * Follows monitor.jsonl the way `tail -F` does: reads what was appended since the last call,
 * yields complete lines only (a partial last line waits for its newline), and starts over
 * from the beginning when the file was rotated or truncated (new inode or smaller size).
 */
import fs from 'node:fs';

const MAX_READ = 4 * 1024 * 1024;

export class JsonlTail {
  private offset = 0;
  private inode: number | undefined;
  private partial = '';

  constructor(readonly path: string) {}

  /** The last complete line of the file, and position the tail just after the file's end. */
  lastLine(): string | undefined {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.path);
    } catch {
      return undefined;
    }
    this.inode = st.ino;
    this.offset = st.size;
    this.partial = '';
    if (st.size === 0) return undefined;
    const len = Math.min(st.size, 1024 * 1024);
    const buf = Buffer.alloc(len);
    const fd = fs.openSync(this.path, 'r');
    try {
      fs.readSync(fd, buf, 0, len, st.size - len);
    } finally {
      fs.closeSync(fd);
    }
    const lines = buf.toString('utf8').split('\n');
    // The part after the last newline is incomplete (or empty).
    this.partial = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '').at(-1);
  }

  /** Complete lines appended since the last call; [] when the file is missing. */
  readNew(): string[] {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.path);
    } catch {
      return [];
    }
    if (this.inode !== st.ino || st.size < this.offset) {
      this.inode = st.ino;
      this.offset = 0;
      this.partial = '';
    }
    if (st.size === this.offset) return [];
    const len = Math.min(st.size - this.offset, MAX_READ);
    const buf = Buffer.alloc(len);
    const fd = fs.openSync(this.path, 'r');
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, len, this.offset);
    } finally {
      fs.closeSync(fd);
    }
    this.offset += n;
    const text = this.partial + buf.subarray(0, n).toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '');
  }
}
