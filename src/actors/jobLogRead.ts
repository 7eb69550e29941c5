/**
 * Reading a job's log (written by JobLog): its files are segments of one logical byte
 * stream; offsets clients see are logical offsets (for a log that was never capped, the byte
 * offset in output.log, as before). Lines come back rendered as `<ts> <sheet> <out|err|sys>
 * <text>`. Every read is bounded: at most `maxBytes` read forward, at most ANSWER_BYTES of
 * rendered lines (then `truncated`), at most ANSWER_BYTES scanned backwards for a tail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HEAD_FILE, HEADER_EVERY_BYTES, LOG_MAGIC, MAX_LINE_BYTES, OLD_TAIL_FILE, TAIL_FILE } from './jobLog.js';

/** Most bytes of rendered lines in one answer: well under the 16 MiB frame limit. */
export const ANSWER_BYTES = 4 * 1024 * 1024;
const BLOCK = 64 * 1024;

interface Segment {
  fd: number;
  /** Logical offset of its first data byte. */
  base: number;
  /** File position of its first data byte (after the magic line). */
  start: number;
  /** Logical end (exclusive). */
  end: number;
  /** No magic line: the previous format, every line carries its own prefix. */
  legacy: boolean;
}

export interface LogPart {
  lines: string[];
  /** Logical offset just after each line (the dashboard's SSE ids). */
  ends: number[];
  /** Logical size of the log. */
  size: number;
  next_offset: number;
  /** The byte cap cut the answer short: read on from next_offset. */
  truncated: boolean;
}

/** Open the log's files, newest first (a rotation between two opens then shows one twice, never a hole). */
function openSegments(dir: string): Segment[] {
  const segs: Segment[] = [];
  for (const name of [TAIL_FILE, OLD_TAIL_FILE, HEAD_FILE]) {
    let fd: number;
    try {
      fd = fs.openSync(path.join(dir, name), 'r');
    } catch {
      continue;
    }
    const size = fs.fstatSync(fd).size;
    const first = Buffer.alloc(Math.min(64, size));
    fs.readSync(fd, first, 0, first.length, 0);
    const nl = first.indexOf(0x0a);
    const text = first.toString('latin1');
    if (text.startsWith(LOG_MAGIC) && nl > 0) {
      const base = Number(text.slice(LOG_MAGIC.length, nl));
      if (segs.some((s) => s.base === base)) fs.closeSync(fd);
      else segs.push({ fd, base, start: nl + 1, end: base + size - nl - 1, legacy: false });
    } else if (name === HEAD_FILE) {
      segs.push({ fd, base: 0, start: 0, end: size, legacy: true });
    } else {
      fs.closeSync(fd); // a tail file still empty (being created)
    }
  }
  return segs.sort((a, b) => a.base - b.base);
}

function withSegments<T>(dir: string, fn: (segs: Segment[], size: number) => T): T {
  const segs = openSegments(dir);
  try {
    return fn(segs, segs.length ? Math.max(...segs.map((s) => s.end)) : 0);
  } finally {
    for (const s of segs) fs.closeSync(s.fd);
  }
}

function readAt(seg: Segment, logical: number, length: number): Buffer {
  const buf = Buffer.alloc(Math.max(0, Math.min(length, seg.end - logical)));
  const n = fs.readSync(seg.fd, buf, 0, buf.length, seg.start + logical - seg.base);
  return buf.subarray(0, n);
}

/** The header in force at `logical` (the last one before it), or undefined. */
function headerBefore(seg: Segment, logical: number): string | undefined {
  const from = Math.max(seg.base, logical - 2 * HEADER_EVERY_BYTES - MAX_LINE_BYTES);
  const buf = readAt(seg, from, logical - from);
  let at = buf.lastIndexOf('\n\x1e');
  if (at >= 0) at += 1;
  else if (from === seg.base && buf[0] === 0x1e) at = 0;
  else return undefined;
  const end = buf.indexOf(0x0a, at);
  return buf.subarray(at + 1, end).toString('utf8');
}

/** Complete lines from logical `offset`: at most `maxBytes` read, ANSWER_BYTES rendered. */
function readForward(segs: Segment[], size: number, offset: number, maxBytes: number): LogPart {
  const part: LogPart = { lines: [], ends: [], size, next_offset: Math.min(offset, size), truncated: false };
  let at = offset;
  let budget = maxBytes;
  let rendered = 0;
  for (const seg of segs) {
    if (seg.end <= at) continue;
    if (at < seg.base) at = seg.base; // the capped middle of the log: skip to what is kept
    part.next_offset = at;
    let prefix = seg.legacy ? '' : `${headerBefore(seg, at) ?? '- 0 sys'} `;
    const buf = readAt(seg, at, budget);
    let pos = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; pos = nl + 1, nl = buf.indexOf(0x0a, pos)) {
      if (!seg.legacy && buf[pos] === 0x1e) {
        prefix = `${buf.toString('utf8', pos + 1, nl)} `;
        part.next_offset = at + nl + 1;
        continue;
      }
      const bytes = prefix.length + nl - pos + 1;
      if (rendered + bytes > ANSWER_BYTES && part.lines.length > 0) {
        part.truncated = true;
        return part;
      }
      rendered += bytes;
      const text = buf.toString('utf8', !seg.legacy && buf[pos] === 0x1f ? pos + 1 : pos, nl);
      part.lines.push(prefix + text);
      part.ends.push(at + nl + 1);
      part.next_offset = at + nl + 1;
    }
    budget -= pos;
    at += pos;
    if (at < seg.end || budget <= 0) return part; // a partial line waits, or the read budget is spent
  }
  return part;
}

/**
 * Logical offset where the last `lines` lines start (headers do not count), scanning back at
 * most half of ANSWER_BYTES; `short` when the scan stopped before finding them all.
 */
function tailStart(segs: Segment[], size: number, lines: number): { start: number; short: boolean } {
  let found = 0;
  let scanned = 0;
  let at = size;
  // The log's last newline ends the last line (or starts a partial one, not returned): it
  // starts no line to count.
  let skipLast = true;
  let after: number | undefined; // the byte at `at`
  for (let i = segs.length - 1; i >= 0; i--) {
    const seg = segs[i]!;
    if (seg.end < at) break; // a gap: what came before was dropped
    while (at > seg.base) {
      // Half the answer's bytes: room for rendering the prefixes of up to 10,000 lines.
      if (scanned >= ANSWER_BYTES / 2) return { start: at, short: true };
      const from = Math.max(seg.base, at - BLOCK);
      const buf = readAt(seg, from, at - from);
      scanned += buf.length;
      for (let j = buf.lastIndexOf(0x0a); j >= 0; j = j > 0 ? buf.lastIndexOf(0x0a, j - 1) : -1) {
        if (skipLast) {
          skipLast = false;
          continue;
        }
        const next = j + 1 < buf.length ? buf[j + 1] : after;
        if (seg.legacy || next !== 0x1e) found++; // the line after this newline
        if (found >= lines) return { start: from + j + 1, short: false };
      }
      after = buf[0];
      at = from;
    }
    at = seg.base;
  }
  return { start: at, short: false };
}

/** The job log in `dir` is missing: nothing written yet. */
export function jobLogExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, HEAD_FILE));
}

/** Complete lines from a logical offset. */
export function readJobLogFrom(dir: string, offset: number, maxBytes: number): LogPart {
  return withSegments(dir, (segs, size) => readForward(segs, size, offset, maxBytes));
}

/** The last `lines` lines; `truncated` when they did not all fit (read on from next_offset). */
export function readJobLogTail(dir: string, lines: number): LogPart {
  return withSegments(dir, (segs, size) => {
    if (lines === 0) return { lines: [], ends: [], size, next_offset: size, truncated: false };
    const { start, short } = tailStart(segs, size, lines);
    // Start at a line boundary: the scan may have stopped inside a line.
    const part = readForward(segs, size, start, ANSWER_BYTES + BLOCK);
    if (short && part.lines.length > 0) {
      part.lines.shift();
      part.ends.shift();
    }
    part.truncated ||= short;
    return part;
  });
}

/** Logical size, bytes on disk and last change of a job's log (undefined when it has none). */
export function jobLogStat(dir: string): { size: number; diskBytes: number; mtime: Date } | undefined {
  let disk = 0;
  let mtime: Date | undefined;
  for (const name of [HEAD_FILE, TAIL_FILE, OLD_TAIL_FILE]) {
    try {
      const st = fs.statSync(path.join(dir, name));
      disk += st.size;
      if (!mtime || st.mtime > mtime) mtime = st.mtime;
    } catch {
      // not there
    }
  }
  if (!mtime) return undefined;
  return { size: withSegments(dir, (_s, size) => size), diskBytes: disk, mtime };
}
