/**
 * A job's end is recorded only once its log is whole on disk: a client that sees
 * job.completed and opens output.log at once must find every line. The log file's writes
 * are slowed here (as on a busy disk or a saturated libuv pool) so that the order shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobManager } from '../../src/actors/jobManager.js';
import { readJobLogFrom } from '../../src/actors/jobLogRead.js';
import type { NewEvent } from '../../src/events/types.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-joblog-');
afterEach(() => {
  vi.restoreAllMocks();
});

/** Every fs.writev (the job log's writes) takes `ms` longer before it reaches the file. */
function slowFileWrites(ms: number): void {
  const original = fs.writev;
  vi.spyOn(fs, 'writev').mockImplementation(((...args: unknown[]) => {
    setTimeout(() => (original as (...a: unknown[]) => void)(...args), ms);
  }) as never);
}

describe('job log before job end', () => {
  it('the end events are appended after the last log line is in the file', async () => {
    const jobsDir = tempDir();
    slowFileWrites(150);
    const seenAtEnd = new Map<string, string>();
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const manager = new JobManager({
      jobsDir,
      jobExists: () => false,
      config: { max_concurrent_jobs: 1, kill_grace_seconds: 1, default_sheet_timeout_seconds: 60 },
      append: async (e: NewEvent) => {
        if (e.type === 'sheet.completed' || e.type === 'job.completed') {
          // What a client reading the file right after this event would get.
          seenAtEnd.set(e.type, `${readJobLogFrom(path.join(jobsDir, e.job_id!), 0, 1 << 20).lines.join('\n')}\n`);
        }
        if (e.type === 'job.completed') ended();
        return {};
      },
    });
    await manager.submit({ job_id: 'slow-disk', sheets: [{ argv: ['sh', '-c', 'echo alpha; echo beta >&2'] }] });
    await done;
    for (const type of ['sheet.completed', 'job.completed']) {
      const text = seenAtEnd.get(type)!;
      expect(text, type).toMatch(/ 1 out alpha\n/);
      expect(text, type).toMatch(/ 1 err beta\n/);
      expect(text, type).toMatch(/ 1 sys sheet 1 ended exit_code=0 [^\n]*\n$/);
    }
    await manager.shutdown();
  });
});
