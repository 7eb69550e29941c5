/**
 * The first step of a start: MZT_HOME and its run directory private, before anything creates
 * a file in them (shared/privateFiles.ts says why each step is needed).
 */
import fs from 'node:fs';
import type { LogFn } from '../../log/logger.js';
import type { ConductorPaths } from '../../shared/paths.js';
import { PRIVATE_UMASK, ensurePrivateDir, ensurePrivateFile, tightenEntries } from '../../shared/privateFiles.js';

export function preparePrivateHome(paths: ConductorPaths, log: LogFn): void {
  process.umask(PRIVATE_UMASK);
  ensurePrivateDir(paths.home);
  ensurePrivateDir(paths.runDir);
  fs.mkdirSync(paths.jobsDir, { recursive: true, mode: 0o700 });
  for (const file of tightenEntries([paths.home, paths.runDir])) log(`tightened ${file}: only the owner may read it now`);
  ensurePrivateFile(paths.eventsDb);
  ensurePrivateFile(paths.monitorDb);
}
