/**
 * The job log's format and bounds, in process: logs of the previous format still read, escaped
 * lines round-trip, long lines are cut at a character boundary, `follow` ends when its pipe is
 * destroyed, and the write queue stays bounded by pausing the pipe.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobLog, MAX_LINE_BYTES } from '../../src/actors/jobLog.js';
import { readJobLogFrom, readJobLogTail } from '../../src/actors/jobLogRead.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-joblogfmt-');
afterEach(() => {
  vi.restoreAllMocks();
});

describe('job log format', () => {
  it('reads a log of the previous format (a prefix on every line) as it is, offsets in bytes', () => {
    const dir = tempDir();
    const old = ['2026-01-01T00:00:00.000Z 1 sys sheet 1 started', '2026-01-01T00:00:00.001Z 1 out héllo', '2026-01-01T00:00:00.002Z 1 err oops'];
    fs.writeFileSync(path.join(dir, 'output.log'), `${old.join('\n')}\n2026-01-01T00:00:00.003Z 1 out part`);
    const tail = readJobLogTail(dir, 2);
    expect(tail.lines).toEqual(old.slice(1));
    const firstEnd = Buffer.byteLength(old[0]!) + 1;
    expect(tail.ends[0]).toBe(firstEnd + Buffer.byteLength(old[1]!) + 1);
    const from = readJobLogFrom(dir, firstEnd, 1 << 20);
    expect(from.lines).toEqual(old.slice(1));
    expect(from.next_offset).toBe(tail.next_offset);
    expect(from.size).toBe(fs.statSync(path.join(dir, 'output.log')).size);
  });

  it('keeps streams distinguishable and in order, escapes lines that look like headers', async () => {
    const dir = tempDir();
    const log = new JobLog(dir);
    const out = new PassThrough();
    const err = new PassThrough();
    const done = Promise.all([log.follow(out, 1, 'out'), log.follow(err, 1, 'err')]);
    out.write('one\n');
    await new Promise((r) => setImmediate(r));
    err.write('\x1etwo\n\x1fthree\n');
    await new Promise((r) => setImmediate(r));
    out.end('four');
    err.end();
    await done;
    await log.writeFlushed(1, 'sys', 'end');
    await log.close();
    const texts = readJobLogFrom(dir, 0, 1 << 20).lines.map((l) => l.replace(/^\S+ /, ''));
    expect(texts).toEqual(['1 out one', '1 err \x1etwo', '1 err \x1fthree', '1 out four', '1 sys end']);
  });

  it('cuts a line longer than 64 KiB at a character boundary', async () => {
    const dir = tempDir();
    const log = new JobLog(dir);
    const src = new PassThrough();
    const done = log.follow(src, 1, 'out');
    src.end(`${'a'.repeat(MAX_LINE_BYTES - 1)}é${'b'.repeat(10)}\n`);
    await done;
    await log.close();
    const lines = readJobLogFrom(dir, 0, 1 << 20).lines.map((l) => l.replace(/^\S+ 1 out /, ''));
    expect(lines).toEqual(['a'.repeat(MAX_LINE_BYTES - 1), `é${'b'.repeat(10)}`]);
  });

  it('follow resolves when its pipe is destroyed without an end', async () => {
    const log = new JobLog(tempDir());
    const src = new PassThrough();
    const done = log.follow(src, 1, 'out');
    src.write('partial line');
    src.destroy();
    await done;
    await log.close();
  });

  it('pauses the pipe while 1 MiB of log is queued: the queue stays bounded on a slow disk', async () => {
    const original = fs.writev;
    vi.spyOn(fs, 'writev').mockImplementation(((...args: unknown[]) => {
      setTimeout(() => (original as (...a: unknown[]) => void)(...args), 20);
    }) as never);
    const log = new JobLog(tempDir());
    const src = new PassThrough({ highWaterMark: 64 * 1024 });
    const done = log.follow(src, 1, 'out');
    const chunk = Buffer.from('y\n'.repeat(32 * 1024));
    let maxQueued = 0;
    let pausedSeen = false;
    for (let i = 0; i < 320; i++) {
      // What a child's pipe does: write until the stream says stop, then wait for drain.
      if (!src.write(chunk)) await new Promise((r) => src.once('drain', r));
      maxQueued = Math.max(maxQueued, (log as unknown as { queuedBytes: number }).queuedBytes);
      pausedSeen ||= src.isPaused();
    }
    src.end();
    await done;
    await log.close();
    expect(pausedSeen).toBe(true);
    expect(maxQueued).toBeLessThan(1024 * 1024 + 2 * chunk.length);
  });
});
