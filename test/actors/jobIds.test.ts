/** Generated job ids: one that is already taken is drawn again rather than refused. */
import { describe, expect, it } from 'vitest';
import { JobManager } from '../../src/actors/jobManager.js';
import type { SheetHandle } from '../../src/actors/sheetProcess.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-jobids-');

describe('generated job ids', () => {
  it('a generated id that exists is replaced; a chosen one that exists is refused', async () => {
    const jobsDir = tempDir();
    const asked: string[] = [];
    const manager = new JobManager({
      append: async () => ({}),
      jobsDir,
      // The first id asked about is taken, as if submitted in the same second with the same random part.
      jobExists: (id) => {
        asked.push(id);
        return asked.length === 1 || id === 'taken';
      },
      config: { max_concurrent_jobs: 1, kill_grace_seconds: 1, default_sheet_timeout_seconds: 60 },
      spawnSheet: (): SheetHandle => ({
        pid: undefined,
        stop() {},
        pause() {},
        resume() {},
        done: Promise.resolve({ exit_code: 0, signal: null, duration_seconds: 0 }),
      }),
    });
    const res = await manager.submit({ name: 'same', sheets: [{ argv: ['true'] }] });
    expect(new Set(asked).size).toBe(2); // the taken one, then the one drawn again
    expect(res.job_id).toBe(asked.at(-1));
    expect(res.job_id).not.toBe(asked[0]);
    await expect(manager.submit({ job_id: 'taken', sheets: [{ argv: ['true'] }] })).rejects.toThrow('a job with id "taken" already exists');
    await manager.shutdown();
  });
});
