/**
 * A retried job's log continues the old one (JobLog `continueExisting`): offsets go on from
 * where it ended, a capped log goes on in its tail without a second job.log_capped, and a log
 * cut mid-line by a killed conductor gets its line ended first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobLog, TAIL_FILE } from '../../src/actors/jobLog.js';
import { readJobLogFrom } from '../../src/actors/jobLogRead.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-joblogcont-');

const text = (dir: string) => readJobLogFrom(dir, 0, 1 << 22).lines.map((l) => l.split(' ').slice(1).join(' '));

describe('job log continued by a retry', () => {
  it('goes on after the old lines with the same offsets', async () => {
    const dir = tempDir();
    const first = new JobLog(dir);
    first.write(1, 'out', 'attempt one');
    await first.close();
    const before = readJobLogFrom(dir, 0, 1 << 20);
    const second = new JobLog(dir, { continueExisting: true });
    second.write(2, 'sys', 'attempt two');
    await second.close();
    expect(text(dir)).toEqual(['1 out attempt one', '2 sys attempt two']);
    const after = readJobLogFrom(dir, before.next_offset, 1 << 20);
    expect(after.lines.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['2 sys attempt two']);
    // Without continueExisting a second magic line would sit mid-file and the reader would restart at 0.
    expect(fs.readFileSync(path.join(dir, 'output.log'), 'latin1').split('\x1emzt-log 2 ').length).toBe(2);
  });

  it('a capped log continues in its tail, within the cap, and is not reported capped twice', async () => {
    const dir = tempDir();
    const capped: number[] = [];
    const maxBytes = 8192;
    const first = new JobLog(dir, { maxBytes, onCapped: (i) => capped.push(i.head_bytes) });
    for (let i = 0; i < 200; i++) first.write(1, 'out', `line ${i} ${'x'.repeat(40)}`);
    await first.close();
    expect(capped).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, TAIL_FILE))).toBe(true);
    const size = readJobLogFrom(dir, 0, 1 << 20).size;
    const second = new JobLog(dir, { maxBytes, continueExisting: true, onCapped: (i) => capped.push(i.head_bytes) });
    for (let i = 0; i < 200; i++) second.write(2, 'out', `again ${i} ${'y'.repeat(40)}`);
    await second.close();
    expect(capped).toHaveLength(1);
    const all = readJobLogFrom(dir, 0, 1 << 22);
    expect(all.size).toBeGreaterThan(size);
    expect(all.lines.at(-1)).toMatch(/ 2 out again 199 y+$/);
    let disk = 0;
    for (const f of fs.readdirSync(dir)) disk += fs.statSync(path.join(dir, f)).size;
    expect(disk).toBeLessThanOrEqual(maxBytes);
  });

  it('ends a line a killed conductor left unterminated before writing on', async () => {
    const dir = tempDir();
    const first = new JobLog(dir);
    first.write(1, 'out', 'whole');
    await first.close();
    fs.appendFileSync(path.join(dir, 'output.log'), 'half a li');
    const second = new JobLog(dir, { continueExisting: true });
    second.write(2, 'out', 'next');
    await second.close();
    expect(text(dir)).toEqual(['1 out whole', '1 out half a li', '2 out next']);
  });
});
