/** StderrRotation on a file descriptor of the test's own (what the conductor does with fd 2). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../../src/log/logger.js';
import { StderrRotation } from '../../src/log/rotation.js';

let dir: string;
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});
function open(flags: string): { file: string; fd: number } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-rot-'));
  const file = path.join(dir, 'conductor.log');
  const fd = fs.openSync(file, flags);
  fds.push(fd);
  return { file, fd };
}

describe('StderrRotation', () => {
  it('keeps the file under the bound and `keep` copies, whatever is written', () => {
    const { file, fd } = open('a');
    const logger = new Logger({ name: 't', rotation: StderrRotation.open({ maxBytes: 4096, keep: 3 }, fd) });
    for (let i = 0; i < 5000; i++) logger.log(`line ${i} ${'x'.repeat(i % 200)}`);
    expect(fs.readdirSync(dir).sort()).toEqual(['conductor.log', 'conductor.log.1', 'conductor.log.2', 'conductor.log.3']);
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size, f).toBeLessThan(4096 + 300);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/line 4999 x*\n$/);
  });

  it('empties the live file even when the copy fails, so the bound holds', () => {
    const { file, fd } = open('a');
    const rotation = StderrRotation.open({ maxBytes: 4096, keep: 1 }, fd);
    fs.mkdirSync(`${file}.1`); // copyFile onto a directory fails
    for (let i = 0; i < 500; i++) rotation.write(`${'y'.repeat(99)}\n`);
    expect(fs.statSync(file).size).toBeLessThan(4096);
  });

  it('refuses a file not opened for append, and bad bounds, naming the option', () => {
    const { fd } = open('w');
    expect(() => StderrRotation.open({ maxBytes: 4096, keep: 2 }, fd)).toThrow(/not opened for append/);
    expect(() => StderrRotation.open({ maxBytes: 4095, keep: 2 }, fd)).toThrow(/--log-max-bytes must be an integer of at least 4096, got 4095/);
    expect(() => StderrRotation.open({ maxBytes: 4096, keep: 11 }, fd)).toThrow(/--log-keep must be an integer from 1 to 10, got 11/);
  });
});
