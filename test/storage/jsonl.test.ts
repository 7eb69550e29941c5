/**
 * JSONL rotation with a concurrent tailer: a reader that follows the file by inode (as
 * `tail -F` does) sees every line exactly once and never a partial one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonlWriter } from '../../src/storage/jsonl.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-jsonl-');

/** A minimal `tail -F`: reads complete lines, finishes the old file after a rename, then reopens. */
function tailer(file: string) {
  const lines: string[] = [];
  let fd: number | undefined;
  let ino = -1;
  let offset = 0;
  let partial = '';
  const readAvailable = () => {
    if (fd === undefined) return;
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      if (n === 0) break;
      offset += n;
      const text = partial + buf.subarray(0, n).toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    }
  };
  return {
    lines,
    poll() {
      readAvailable();
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(file);
      } catch {
        return;
      }
      if (st.ino !== ino) {
        readAvailable(); // finish the rotated file
        if (fd !== undefined) fs.closeSync(fd);
        expect(partial).toBe(''); // nothing half-written was left behind
        fd = fs.openSync(file, 'r');
        ino = st.ino;
        offset = 0;
        readAvailable();
      }
    },
    close() {
      if (fd !== undefined) fs.closeSync(fd);
    },
  };
}

describe('JsonlWriter', () => {
  it('rotates by size keeping two old files, and a tailer misses nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'monitor.jsonl');
    const w = new JsonlWriter(file, { maxBytes: 20_000, keepRotated: 2 });
    const t = tailer(file);
    const total = 600;
    for (let i = 0; i < total; i++) {
      w.append({ i, pad: 'x'.repeat(100) });
      if (i % 10 === 0) {
        await w.flush();
        t.poll();
      }
    }
    await w.flush();
    t.poll();
    t.close();
    expect(t.lines.map((l) => JSON.parse(l).i)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(fs.existsSync(`${file}.1`)).toBe(true);
    expect(fs.existsSync(`${file}.2`)).toBe(true);
    expect(fs.existsSync(`${file}.3`)).toBe(false);
    for (const f of [file, `${file}.1`, `${file}.2`]) expect(fs.statSync(f).size).toBeLessThanOrEqual(20_000);
  });

  it('bounds its queue', () => {
    const dir = tempDir();
    const w = new JsonlWriter(path.join(dir, 'm.jsonl'), { maxBytes: 1e9, maxQueuedLines: 10 });
    for (let i = 0; i < 100; i++) w.append({ i });
    expect(w.dropped).toBeGreaterThanOrEqual(89);
  });
});
