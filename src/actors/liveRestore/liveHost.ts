/**
 * live_restore's side of the job manager: where a job's live state lives on disk, starting
 * sheets under waiters, and deciding at start-up which jobs a previous conductor left running
 * can be re-adopted.
 *
 * On disk, per job: `<jobs dir>/<job_id>/spec.json`, the job as submitted (written for
 * job.retry, jobRetry.ts; environment values included, owner-only — the next conductor runs
 * the job's later sheets with them), and `<job_id>/live/sheet-<n>/` (0700; removed when the
 * job ends): the running sheet's waiter files, spool, cursor and state (liveSheet.ts).
 * `<jobs dir>/.live-heartbeat` is rewritten every second: its age at start-up is the downtime.
 *
 * Re-adoptable: a job the log says is running (or paused) whose spec.json is readable. It goes
 * on from its first sheet that did not complete: adopted when that sheet has a state file (it
 * ran, or ended, while no conductor watched), started fresh otherwise (the previous conductor
 * stopped between two sheets). Anything else takes today's path (orphans.ts: interrupted).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobRecord, JobSpec } from '../../events/jobRecord.js';
import type { SheetRun } from '../sheetProcess.js';
import { adoptLiveSheet, readState, startLiveSheet, type LiveSheetHandle, type LiveSheetState } from './liveSheet.js';
import { readCursor } from './spool.js';
import { SPEC_FILE } from '../jobRetry.js';
import { findPerl } from './waiter.js';
import { isValidJobId } from '../../shared/paths.js';
import type { LogPosition } from '../jobLog.js';

const HEARTBEAT_FILE = '.live-heartbeat';
const HEARTBEAT_MS = 1000;

export interface RestorePlan {
  job_id: string;
  spec: JobSpec;
  /** The sheet the job goes on with. */
  fromSheet: number;
  /** That sheet's state when it is adopted (not started again). */
  adopt?: LiveSheetState;
  /** Where the job log is cut back to before the adopted sheet's spool is read again. */
  logCheckpoint?: LogPosition;
  /** How long no conductor watched (from the heartbeat; 0 when unknown). */
  downtime_ms: number;
  paused: boolean;
  /** The attempt that was running (job.retry, restart policies). */
  attempt: number;
  /** When the job started (epoch seconds, from the log). */
  startedAt?: number;
  /** Whether the log has the adopted sheet's sheet.started (it may have died before committing it). */
  startRecorded: boolean;
}

export class LiveHost {
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly adoptions = new Map<string, LiveSheetState>();
  /** When the previous conductor was last seen alive (epoch ms), read before our first beat. */
  readonly previousSeenMs: number | undefined;

  constructor(private readonly jobsDir: string) {
    findPerl(); // a clear error now rather than at the first sheet
    try {
      this.previousSeenMs = fs.statSync(path.join(jobsDir, HEARTBEAT_FILE)).mtimeMs;
    } catch {
      this.previousSeenMs = undefined;
    }
  }

  startHeartbeat(): void {
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** The last beat, written as the conductor lets go of its sheets. */
  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.beat();
  }

  private beat(): void {
    try {
      fs.writeFileSync(path.join(this.jobsDir, HEARTBEAT_FILE), String(Date.now()), { mode: 0o600 });
    } catch {
      /* a full disk: the downtime reads longer, nothing else */
    }
  }

  liveDir(jobId: string): string {
    if (!isValidJobId(jobId)) throw new Error(`invalid job id: ${JSON.stringify(jobId)}`);
    return path.join(this.jobsDir, jobId, 'live');
  }

  sheetDir(jobId: string, sheetNum: number): string {
    return path.join(this.liveDir(jobId), `sheet-${sheetNum}`);
  }

  forgetJob(jobId: string): void {
    forgetLiveState(this.jobsDir, jobId);
  }

  /** Run a sheet under a waiter, or hand over the adopted one when this is the sheet being re-adopted. */
  spawn(run: SheetRun & { jobId: string }): LiveSheetHandle {
    const dir = this.sheetDir(run.jobId, run.sheetNum);
    const common = {
      dir,
      log: run.log,
      sheetNum: run.sheetNum,
      killGraceSeconds: run.killGraceSeconds,
      knownProcesses: run.knownProcesses,
      onSignalSent: run.onSignalSent,
      onEscapedSignalled: run.onEscapedSignalled,
    };
    const key = `${run.jobId}#${run.sheetNum}`;
    const adopted = this.adoptions.get(key);
    if (adopted) {
      this.adoptions.delete(key);
      return adoptLiveSheet(common, adopted);
    }
    // Earlier sheets' files are done with: their ends are recorded before the next sheet starts.
    for (const name of safeList(this.liveDir(run.jobId))) {
      if (name.startsWith('sheet-') && name !== `sheet-${run.sheetNum}`) fs.rmSync(path.join(this.liveDir(run.jobId), name), { recursive: true, force: true });
    }
    return startLiveSheet({ ...common, jobId: run.jobId, argv: run.argv, cwd: run.cwd, env: run.env, marker: run.marker, timeoutSeconds: run.timeoutSeconds });
  }

  /** Split the jobs a previous conductor left active into re-adoptable ones and the rest. */
  planRestore(jobs: JobRecord[], log: (msg: string) => void): { plans: RestorePlan[]; rest: JobRecord[] } {
    const plans: RestorePlan[] = [];
    const rest: JobRecord[] = [];
    const downtime_ms = this.previousSeenMs === undefined ? 0 : Math.max(0, Math.round(Date.now() - this.previousSeenMs));
    for (const job of jobs) {
      let plan: RestorePlan | undefined;
      try {
        plan = this.planOne(job, downtime_ms, log);
      } catch (err) {
        log(`live_restore: job ${job.job_id} cannot be re-adopted (${(err as Error).message}); closing it as interrupted`);
      }
      if (plan) {
        plans.push(plan);
        if (plan.adopt) this.adoptions.set(`${job.job_id}#${plan.fromSheet}`, plan.adopt);
      } else {
        rest.push(job);
      }
    }
    return { plans, rest };
  }

  private planOne(job: JobRecord, downtime_ms: number, log: (msg: string) => void): RestorePlan | undefined {
    if (job.status !== 'running' && job.status !== 'paused') return undefined;
    let spec: JobSpec;
    try {
      spec = JSON.parse(fs.readFileSync(path.join(this.jobsDir, job.job_id, SPEC_FILE), 'utf8')) as JobSpec;
    } catch {
      log(`live_restore: job ${job.job_id} has no readable ${SPEC_FILE}; closing it as interrupted`);
      return undefined;
    }
    if (!Array.isArray(spec.sheets) || spec.sheets.length !== job.total_sheets) return undefined;
    const next = job.sheets.find((s) => s.status !== 'completed');
    if (!next) return undefined; // every sheet completed, the job's end was not recorded: closed as today
    if (next.status !== 'running' && next.status !== 'pending') return undefined;
    const dir = this.sheetDir(job.job_id, next.sheet_num);
    const state = readState(dir);
    if (next.status === 'running' && !state) {
      log(`live_restore: sheet ${job.job_id}#${next.sheet_num} has no live state; closing the job as interrupted`);
      return undefined;
    }
    return {
      job_id: job.job_id,
      spec,
      fromSheet: next.sheet_num,
      ...(state ? { adopt: state, logCheckpoint: readCursor(dir).log } : {}),
      downtime_ms,
      paused: state?.paused !== undefined,
      startRecorded: next.status === 'running',
      attempt: job.attempt ?? 1,
      ...(job.started_at !== undefined ? { startedAt: job.started_at } : {}),
    };
  }
}

/** Remove a job's live state (its waiters' spools and status files; spec.json stays for job.retry). */
export function forgetLiveState(jobsDir: string, jobId: string): void {
  if (!isValidJobId(jobId)) return;
  try {
    fs.rmSync(path.join(jobsDir, jobId, 'live'), { recursive: true, force: true });
  } catch {
    /* a job id that is not a directory name: nothing was written for it */
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
