/**
 * Follows monitor.jsonl the way `tail -F` does: reads what was appended since the last call,
 * yields complete lines only (a partial last line waits for its newline), and starts over
 * from the beginning when the file was rotated or truncated (new inode or smaller size).
 * The reading itself is lineFile.ts (readLogTail / readLogFrom).
 */
import fs from 'node:fs';
import { readLogFrom, readLogTail } from './lineFile.js';

/** Most bytes read per call (a snapshot line of 1,000 processes is ~300 KB). */
const MAX_READ = 4 * 1024 * 1024;

const nonBlank = (line: string) => line.trim() !== '';

export class JsonlTail {
  private offset = 0;
  private inode: number | undefined;

  constructor(readonly path: string) {}

  /** The last complete line of the file, and position the tail just after it. */
  lastLine(): string | undefined {
    try {
      this.inode = fs.statSync(this.path).ino;
      const tail = readLogTail(this.path, 1);
      this.offset = tail.next_offset;
      return tail.lines.filter(nonBlank).at(-1);
    } catch {
      return undefined;
    }
  }

  /** Complete lines appended since the last call; [] when the file is missing. */
  readNew(): string[] {
    try {
      const st = fs.statSync(this.path);
      if (this.inode !== st.ino || st.size < this.offset) {
        this.inode = st.ino;
        this.offset = 0;
      }
      const read = readLogFrom(this.path, this.offset, MAX_READ);
      this.offset = read.next_offset;
      return read.lines.filter(nonBlank);
    } catch {
      return [];
    }
  }
}
