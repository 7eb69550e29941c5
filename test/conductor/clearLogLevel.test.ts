/**
 * job.clear's failures after the commit (a log directory or ledger rows left behind) reach the
 * conductor's log as warnings, so `log_level: warn` still shows them. The handler used to
 * forward only the line, and they came out as info. A real event store; the monitor storage is
 * a stand-in whose deleteJobs fails (a full disk cannot be had for one call here).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/events/store.js';
import { jobHandlers } from '../../src/conductor/handlers/jobHandlers.js';
import type { MethodDeps } from '../../src/conductor/handlers/methodDeps.js';
import type { LogLevel } from '../../src/log/logger.js';
import { conductorPaths } from '../../src/shared/paths.js';
import { useTempDirs } from '../helpers/tempDirs.js';

const tempDir = useTempDirs('mzt-clear-log-');
let store: EventStore | undefined;
afterEach(() => store?.close());

describe('job.clear', () => {
  it('reports a ledger that could not be cleared as a warning', async () => {
    const dir = tempDir();
    store = EventStore.open(path.join(dir, 'events.db'));
    const lines: Array<{ line: string; level: LogLevel | undefined }> = [];
    const storage = {
      deleteJobs: () => {
        throw new Error('disk I/O error');
      },
    };
    const deps = {
      store,
      paths: conductorPaths(dir),
      monitoring: () => ({ storage }),
      log: (line: string, level?: LogLevel) => lines.push({ line, level }),
    } as unknown as MethodDeps;
    const result = await jobHandlers(deps)['job.clear']({ statuses: ['completed'] }, undefined as never);
    expect(result.cleared).toBe(0);
    expect(lines).toEqual([{ line: 'job.clear: could not delete ledger rows: disk I/O error', level: 'warn' }]);
  });
});
