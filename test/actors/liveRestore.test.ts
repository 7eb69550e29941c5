/**
 * live_restore's parts with real processes, in process: the waiter tells an exit code from a
 * signal (sh could not: 143 vs SIGTERM), keeps stdout and stderr apart, reports exec failures,
 * survives a signal to the sheet's group; the spool tailer copies exactly once across a
 * "crash" after the log write and before the cursor write; the log cap holds for tailed output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobLog, MAX_LINE_BYTES } from '../../src/actors/jobLog.js';
import { readJobLogFrom } from '../../src/actors/jobLogRead.js';
import { SpoolTailer, readCursor } from '../../src/actors/liveRestore/spool.js';
import { MAX_SEGMENTS, SEGMENT_BYTES, readSheetPid, readStatus, startWaiter, type WaiterStatus } from '../../src/actors/liveRestore/waiter.js';
import { waitFor } from '../helpers/conductorProcess.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-live-');

async function run(argv: string[], during?: (dir: string, pid: number) => void | Promise<void>): Promise<{ dir: string; status: WaiterStatus }> {
  const dir = path.join(tempDir(), 'sheet');
  await startWaiter({ dir, argv, cwd: os.tmpdir(), env: process.env, marker: 'inst:job#1' });
  if (during) {
    const pid = await waitFor(() => readSheetPid(dir), 10_000, 'sheet pid');
    await during(dir, pid);
  }
  const status = await waitFor(() => readStatus(dir), 15_000, 'status');
  return { dir, status };
}

function logLines(dir: string): string[] {
  return readJobLogFrom(dir, 0, 1 << 24).lines.map((l) => l.slice(l.indexOf(' ') + 1));
}

describe('waiter', () => {
  it('tells an exit code of 143 from death by SIGTERM', async () => {
    expect((await run(['sh', '-c', 'exit 143'])).status).toMatchObject({ exit_code: 143, signal: null });
    expect((await run(['sh', '-c', 'kill -TERM $$'])).status).toMatchObject({ exit_code: null, signal: 'SIGTERM' });
  });

  it('reports an exec failure as spawn_error', async () => {
    const { status } = await run(['/nonexistent/program']);
    expect(status.spawn_error).toMatch(/No such file/);
  });

  it('puts the sheet in its own group, survives a SIGTERM to that group, and records it', async () => {
    let groupOk = false;
    const { status } = await run(['sleep', '30'], (_dir, pid) => {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      groupOk = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid;
      process.kill(-pid, 'SIGTERM');
    });
    expect(groupOk).toBe(true);
    expect(status).toMatchObject({ exit_code: null, signal: 'SIGTERM' });
  });

  it('gives the sheet its MZT_SHEET_ID and keeps stdout and stderr apart', async () => {
    const { dir } = await run(['sh', '-c', 'echo "marker=$MZT_SHEET_ID"; echo oops >&2; printf partial']);
    const logDir = tempDir();
    const log = new JobLog(logDir);
    await new SpoolTailer(dir, log, 1).drain();
    await log.close();
    expect(logLines(logDir).sort()).toEqual(['1 err oops', '1 out marker=inst:job#1', '1 out partial'].sort());
  });
});

describe('spool tailer', () => {
  it('copies exactly once when the conductor dies between the log write and the cursor write', async () => {
    const { dir } = await run(['sh', '-c', 'i=1; while [ $i -le 2000 ]; do echo line-$i; i=$((i+1)); done']);
    const logDir = tempDir();
    // A first conductor copies part of the spool and checkpoints (as pump does)...
    let log = new JobLog(logDir);
    const first = new SpoolTailer(dir, log, 1);
    await first.pump();
    const checkpoint = readCursor(dir);
    expect(checkpoint.log).toBeDefined();
    // ...then writes more lines to the log without the cursor catching up, and dies.
    await log.appendLines(1, 'out', Buffer.from('line-1\nline-2\n'));
    await log.close();
    // The next one cuts the log back to the checkpoint and reads on from the cursor.
    log = new JobLog(logDir, { continueExisting: true, truncateTo: checkpoint.log });
    await new SpoolTailer(dir, log, 1).drain();
    await log.close();
    const nums = logLines(logDir).map((l) => Number(/line-(\d+)$/.exec(l)?.[1]));
    expect(nums).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });

  it('keeps the log cap for tailed output and deletes consumed spool segments', async () => {
    const line = 'x'.repeat(1000);
    const { dir } = await run(['sh', '-c', `i=0; while [ $i -lt 3000 ]; do echo ${line}; i=$((i+1)); done`]);
    const logDir = tempDir();
    const cap = 1024 * 1024;
    const log = new JobLog(logDir, { maxBytes: cap });
    await new SpoolTailer(dir, log, 1).drain();
    await log.close();
    const onDisk = fs.readdirSync(logDir).reduce((n, f) => n + fs.statSync(path.join(logDir, f)).size, 0);
    expect(onDisk).toBeLessThanOrEqual(cap);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('spool.')).length).toBe(1); // the last one
    expect(logLines(logDir).at(-1)).toBe(`1 out ${line}`);
    expect(MAX_LINE_BYTES).toBeGreaterThan(line.length);
  });

  it('skips an unreadable spool instead of stalling, and says so in the log', async () => {
    const dir = tempDir();
    const good = (s: string, text: string) => Buffer.concat([Buffer.from(s), Buffer.from([0, 0, 0, text.length]), Buffer.from(text)]);
    fs.writeFileSync(path.join(dir, 'spool.0'), Buffer.concat([good('o', 'first\n'), Buffer.from('garbage that is no record')]));
    const logDir = tempDir();
    const log = new JobLog(logDir);
    await new SpoolTailer(dir, log, 1).drain();
    await log.close();
    const lines = logLines(logDir);
    expect(lines[0]).toBe('1 out first');
    expect(lines[1]).toMatch(/^1 sys spool of sheet 1 unreadable at byte 11: 25 byte\(s\) of output skipped$/);
  });

  it('moves past an incomplete record at the end of a segment the waiter has left', async () => {
    const dir = tempDir();
    const rec = (text: string) => Buffer.concat([Buffer.from('o'), Buffer.from([0, 0, 0, text.length]), Buffer.from(text)]);
    fs.writeFileSync(path.join(dir, 'spool.0'), Buffer.concat([rec('one\n'), rec('two\n').subarray(0, 6)]));
    fs.writeFileSync(path.join(dir, 'spool.1'), rec('three\n'));
    const logDir = tempDir();
    const log = new JobLog(logDir);
    await new SpoolTailer(dir, log, 1).drain();
    await log.close();
    expect(logLines(logDir)).toEqual(['1 out one', '1 sys spool of sheet 1: an incomplete record of 6 byte(s) skipped', '1 out three']);
    expect(fs.existsSync(path.join(dir, 'spool.0'))).toBe(false);
  });

  it('bounds the spool while nobody reads it (the sheet blocks), and lets the sheet finish once read', async () => {
    const dir = path.join(tempDir(), 'sheet');
    await startWaiter({ dir, argv: ['sh', '-c', 'head -c 30000000 /dev/zero | tr "\\0" y | fold -w 99'], cwd: os.tmpdir(), env: process.env });
    const spooled = () => fs.readdirSync(dir).filter((f) => f.startsWith('spool.')).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    // Wait until it stops growing: the waiter holds off at MAX_SEGMENTS.
    let last = -1;
    await waitFor(async () => {
      const now = spooled();
      const still = now === last && now > 0;
      last = now;
      await new Promise((r) => setTimeout(r, 300));
      return still;
    }, 20_000, 'the spool to stop growing');
    expect(last).toBeLessThanOrEqual((MAX_SEGMENTS + 1) * SEGMENT_BYTES);
    expect(last).toBeGreaterThanOrEqual(MAX_SEGMENTS * SEGMENT_BYTES);
    expect(readStatus(dir)).toBeUndefined(); // blocked, not ended
    const logDir = tempDir();
    const log = new JobLog(logDir);
    const tailer = new SpoolTailer(dir, log, 1);
    await waitFor(async () => {
      await tailer.pump();
      return readStatus(dir);
    }, 60_000, 'the sheet to finish');
    await tailer.drain();
    await log.close();
    expect(readStatus(dir)).toMatchObject({ exit_code: 0 });
    let lines = 0;
    for (let offset = 0; ; ) {
      const part = readJobLogFrom(logDir, offset, 1 << 30);
      lines += part.lines.filter((l) => / 1 out y+$/.test(l)).length;
      if (part.next_offset >= part.size) break;
      offset = part.next_offset;
    }
    expect(lines).toBe(Math.ceil(30_000_000 / 99));
  }, 90_000);
});
