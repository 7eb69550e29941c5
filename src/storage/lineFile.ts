/**
 * Complete lines of a plain text file that is being appended to (monitor.jsonl): the last
 * few, or those after a byte offset. Bounded: a tail reads backwards a block at a time,
 * counting newline bytes, and never more than `maxBytes`.
 */
import fs from 'node:fs';

const BLOCK = 64 * 1024;

/** The last `lines` complete lines (at most `maxBytes` of them; older ones are left out). */
export function readLogTail(file: string, lines: number, maxBytes = 16 * 1024 * 1024): { lines: string[]; size: number; next_offset: number } {
  const size = fs.statSync(file).size;
  if (lines === 0 || size === 0) return { lines: [], size, next_offset: size };
  const fd = fs.openSync(file, 'r');
  try {
    const blocks: Buffer[] = [];
    let start = size;
    let newlines = 0;
    let end = -1; // file offset just after the last newline
    while (start > 0 && newlines <= lines && size - start < maxBytes) {
      const from = Math.max(0, start - BLOCK);
      const buf = Buffer.alloc(start - from);
      fs.readSync(fd, buf, 0, buf.length, from);
      for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
        newlines++;
        if (end < 0 || from + i + 1 > end) end = Math.max(end, from + i + 1);
      }
      blocks.unshift(buf);
      start = from;
    }
    if (end < 0) return { lines: [], size, next_offset: start };
    const text = Buffer.concat(blocks).subarray(0, end - start);
    const all = text.subarray(0, text.length - 1).toString('utf8').split('\n');
    // A partial first line (the scan stopped inside it) is not returned.
    const complete = start === 0 ? all : all.slice(1);
    return { lines: complete.slice(-lines), size, next_offset: end };
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
    if (end < 0) return { lines: [], size, next_offset: offset }; // wait for the newline
    return { lines: buf.subarray(0, end).toString('utf8').split('\n'), size, next_offset: offset + end + 1 };
  } finally {
    fs.closeSync(fd);
  }
}
