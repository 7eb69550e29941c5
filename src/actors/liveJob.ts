/** What the job manager holds for a job whose machine runs (or whose end is being recorded). */
import type { GitContext, JobSpec } from '../events/jobRecord.js';
import { JobLog, type JobLogOptions } from './jobLog.js';
import type { SheetHandle } from './sheetProcess.js';

export interface LiveJob {
  spec: JobSpec;
  log: JobLog;
  /** The sheet running now. */
  sheet: { num: number; handle: SheetHandle } | undefined;
  /** Resolves when the job's machine reached its end. */
  finished: Promise<void>;
  isFinished: boolean;
  /** Resolves when the job reached its end and all its events are committed. */
  ended: Promise<void>;
  markFinished(): void;
  markEnded(): void;
  /** The job's directory, when it was in a git work tree at submit; its context at the end. */
  gitDir?: string;
  gitAtEnd?: GitContext;
}

export function createLiveJob(dir: string, spec: JobSpec, log: JobLogOptions, gitDir: string | undefined): LiveJob {
  let markEnded!: () => void;
  let markFinished!: () => void;
  return {
    spec,
    log: new JobLog(dir, log),
    sheet: undefined,
    finished: new Promise<void>((r) => (markFinished = r)),
    isFinished: false,
    ended: new Promise<void>((r) => (markEnded = r)),
    markFinished: () => markFinished(),
    markEnded: () => markEnded(),
    ...(gitDir !== undefined ? { gitDir } : {}),
  };
}
