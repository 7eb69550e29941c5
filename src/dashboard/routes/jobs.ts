/**
 * Job routes: the list, one job, its live status stream, and its log (live tail, download,
 * info). Job ids are validated before they touch the filesystem; logs are read from
 * `$MZT_HOME/jobs/<id>/output.log`, so a finished job's log can be read with the conductor down.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { jobLogStat, readJobLogFrom, readJobLogTail } from '../../actors/jobLogRead.js';
import { jobDir } from '../../shared/paths.js';
import type { JobRecord, JobStatus } from '../../events/jobRecord.js';
import { isTerminalStatus } from '../../events/projection.js';
import type { DurableEnvelope } from '../consumer.js';
import { ConductorNotRunning } from '../../ipc/clientErrors.js';
import { pumpEvents } from '../eventPump.js';
import { HttpError, booleanParam, checkJobId, numberParam, resumeSeq, rpcToHttp, sendJson } from '../http.js';
import type { RouteContext, RouteRequest } from '../context.js';

const MAX_TAIL_LINES = 1000;
const LOG_READ_BYTES = 256 * 1024;


async function getJob(ctx: RouteContext, jobId: string): Promise<JobRecord> {
  try {
    return await ctx.bridge.call<JobRecord>('job.get', { job_id: jobId });
  } catch (err) {
    rpcToHttp(err, jobId);
  }
}

/**
 * The job, or undefined when the conductor is down but the job's directory exists (its log
 * can still be read). Unknown → 404.
 */
async function findJob(ctx: RouteContext, jobId: string): Promise<JobRecord | undefined> {
  try {
    return await ctx.bridge.call<JobRecord>('job.get', { job_id: jobId });
  } catch (err) {
    if (err instanceof ConductorNotRunning) {
      if (fs.existsSync(jobDir(ctx.paths, jobId))) return undefined;
      throw new HttpError(404, `job not found: ${jobId} (the conductor is not running, and there is no log for it)`);
    }
    rpcToHttp(err, jobId);
  }
}

function summary(job: JobRecord) {
  return {
    job_id: job.job_id,
    name: job.name,
    status: job.status,
    total_sheets: job.total_sheets,
    completed_sheets: job.completed_sheets,
    current_sheet: job.current_sheet ?? null,
    progress_percent: job.total_sheets > 0 ? Math.round((job.completed_sheets / job.total_sheets) * 1000) / 10 : 0,
    reason: job.reason ?? null,
    submitted_at: job.submitted_at,
    started_at: job.started_at ?? null,
    ended_at: job.ended_at ?? null,
    last_seq: job.last_seq,
  };
}

export async function listJobs(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const limit = numberParam(r.query, 'limit', { min: 1, max: 1000, default: 100, integer: true });
  const status = r.query.get('status');
  try {
    const result = await ctx.bridge.call('job.list', { limit, ...(status ? { status: status.split(',') } : {}) });
    sendJson(r.res, 200, result);
  } catch (err) {
    rpcToHttp(err);
  }
}

export async function jobDetail(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  sendJson(r.res, 200, await getJob(ctx, jobId));
}

/** The job's cost over time (monitor.job_history): what its CPU% / RSS charts open with. */
export async function jobHistory(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  const params: Record<string, unknown> = { job_id: jobId, limit: numberParam(r.query, 'limit', { min: 1, max: 10_000, default: 600, integer: true }) };
  if (r.query.get('since') !== null) params.since = numberParam(r.query, 'since', { min: 0, max: 1e11, default: 0 });
  try {
    sendJson(r.res, 200, await ctx.bridge.call('monitor.job_history', params));
  } catch (err) {
    rpcToHttp(err, jobId);
  }
}

/**
 * SSE: the job's durable events (ids = seq; replayed from the start of the job, or from
 * Last-Event-ID), a `job_status` summary after each group of events (at most one per
 * poll_interval, the last one always), and `job_finished` once it ended; then the stream ends.
 */
export async function jobStream(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  const intervalMs = numberParam(r.query, 'poll_interval', { min: 0.1, max: 30, default: 0.5 }) * 1000;
  const since = resumeSeq(r.req, r.query) ?? 0;
  const first = await getJob(ctx, jobId);
  const sse = ctx.openSse(r);
  const consumer = ctx.bridge.register({ jobId, events: true, snapshots: false });
  sse.onClose(() => ctx.bridge.unregister(consumer));
  sse.send('job_status', summary(first));
  let lastStatusAt = Date.now();
  let sentUpTo = since;
  const finish = (job: JobRecord) => {
    sse.send('job_finished', { job_id: job.job_id, final_status: job.status, reason: job.reason ?? null });
    return true;
  };
  try {
    if (isTerminalStatus(first.status) && since >= first.last_seq) {
      // Resumed after the job's last event: nothing more will come.
      finish(first);
      return;
    }
    await pumpEvents({
      sse,
      bridge: ctx.bridge,
      consumer,
      since,
      jobId,
      heartbeatMs: ctx.heartbeatMs,
      afterEvents: async (events: DurableEnvelope[]) => {
        sentUpTo = Math.max(sentUpTo, events.at(-1)!.seq);
        const ended = events.some((e) => e.type.startsWith('job.') && isTerminalStatus(e.type.slice(4) as JobStatus));
        if (!ended && Date.now() - lastStatusAt < intervalMs) return false;
        let job: JobRecord;
        try {
          job = await ctx.bridge.call<JobRecord>('job.get', { job_id: jobId });
        } catch {
          return false; // the conductor went away; the stream goes on and resumes with it
        }
        lastStatusAt = Date.now();
        sse.send('job_status', summary(job));
        // Finished only once its last event was sent (the rest may still be on the way).
        return isTerminalStatus(job.status) && sentUpTo >= job.last_seq ? finish(job) : false;
      },
    });
  } finally {
    ctx.bridge.unregister(consumer);
    sse.end();
  }
}

const LOG_LINE = /^(\S+) (\d+) (out|err|sys) (.*)$/s;

function logEvent(line: string, endOffset: number, initial: boolean) {
  const m = LOG_LINE.exec(line);
  return m
    ? { line, ts: m[1], sheet_num: Number(m[2]), stream: m[3], text: m[4], offset: endOffset, initial }
    : { line, ts: null, sheet_num: null, stream: null, text: line, offset: endOffset, initial };
}

function logFile(ctx: RouteContext, jobId: string): string {
  return path.join(jobDir(ctx.paths, jobId), 'output.log');
}

/**
 * SSE of log lines: the last `tail_lines`, then (follow) new lines as they are written, until
 * the job has ended and everything was sent (`log_complete`). Each line's id is the byte
 * offset just after it, so a reconnecting browser continues where it stopped.
 */
export async function jobLogs(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  const tailLines = numberParam(r.query, 'tail_lines', { min: 0, max: MAX_TAIL_LINES, default: 100, integer: true });
  const follow = booleanParam(r.query, 'follow', true);
  const resumeOffset = resumeSeq(r.req, r.query);
  let job = await findJob(ctx, jobId);
  const file = logFile(ctx, jobId);
  const dir = path.dirname(file);
  const sse = ctx.openSse(r);
  try {
    let offset = 0;
    if (resumeOffset !== undefined) {
      offset = resumeOffset;
    } else if (fs.existsSync(file)) {
      const tail = readJobLogTail(dir, tailLines);
      for (let i = 0; i < tail.lines.length; i++) {
        if (!sse.send('log', logEvent(tail.lines[i]!, tail.ends[i]!, true), tail.ends[i])) await sse.drained();
      }
      offset = tail.next_offset;
    }
    let lastStatusCheck = Date.now();
    for (;;) {
      if (sse.closed || ctx.stopping()) return;
      let size = 0;
      if (fs.existsSync(file)) {
        try {
          const from = offset;
          const part = readJobLogFrom(dir, offset, LOG_READ_BYTES);
          size = part.size;
          for (let i = 0; i < part.lines.length; i++) {
            if (!sse.send('log', logEvent(part.lines[i]!, part.ends[i]!, false), part.ends[i])) await sse.drained();
          }
          offset = part.next_offset;
          if (offset > from && offset < size) continue; // more to read right away
        } catch (err) {
          sse.send('error', { error: `Cannot read log file: ${(err as Error).message}` });
          return;
        }
      }
      const ended = job === undefined ? !follow : isTerminalStatus(job.status);
      if (!follow || (ended && offset >= size)) {
        sse.send('log_complete', { message: 'Log file streamed completely', offset, status: job?.status ?? null });
        return;
      }
      await sleep(ctx.logPollMs);
      // While following, learn when the job ends (cheap: one call a second at most).
      if (Date.now() - lastStatusCheck >= 1000 || job === undefined) {
        lastStatusCheck = Date.now();
        try {
          job = await ctx.bridge.call<JobRecord>('job.get', { job_id: jobId });
        } catch {
          // conductor down: keep following the file
        }
      }
    }
  } finally {
    sse.end();
  }
}

/** The whole log, rendered, a bounded piece at a time (yielding to other work in between). */
async function* logPieces(dir: string): AsyncGenerator<string[]> {
  let offset = 0;
  for (;;) {
    const part = readJobLogFrom(dir, offset, LOG_READ_BYTES);
    if (part.lines.length > 0) yield part.lines;
    if (part.next_offset <= offset || part.next_offset >= part.size) return;
    offset = part.next_offset;
    await new Promise((r) => setImmediate(r));
  }
}

async function countLines(dir: string): Promise<number> {
  let lines = 0;
  for await (const piece of logPieces(dir)) lines += piece.length;
  return lines;
}

export async function jobLogDownload(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  await findJob(ctx, jobId);
  const file = logFile(ctx, jobId);
  let size: number;
  try {
    const st = jobLogStat(path.dirname(file));
    if (!st) throw Object.assign(new Error('no log'), { code: 'ENOENT' });
    size = st.diskBytes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HttpError(404, `Log file not found: job ${jobId} has no output yet`);
    throw new HttpError(403, `Cannot access log file: ${(err as Error).message}`);
  }
  if (size > ctx.maxDownloadBytes) {
    throw new HttpError(
      413,
      `Log file too large for download: ${(size / 1048576).toFixed(1)} MB (limit ${Math.round(ctx.maxDownloadBytes / 1048576)} MB). ` +
        `Use the streaming endpoint instead: /api/jobs/${jobId}/logs`,
    );
  }
  const dir = path.dirname(file);
  const lines = await countLines(dir);
  const header =
    `# mzt job log — job ${jobId}\n` +
    `# generated ${new Date().toISOString()}\n` +
    `# file ${file}: ${(size / 1024).toFixed(1)} KB, ${lines} lines\n` +
    `# line format: <time> <sheet> <out|err|sys> <text>\n` +
    `#${'='.repeat(60)}\n\n`;
  // Lines are rendered from the compact file, so the length is not known up front: chunked.
  r.res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-disposition': `attachment; filename="mzt-${jobId}-logs.txt"`,
    'cache-control': 'no-store',
  });
  let closed = false;
  r.res.on('close', () => (closed = true));
  if (!r.res.write(header)) await new Promise((resolve) => r.res.once('drain', resolve));
  for await (const piece of logPieces(dir)) {
    if (closed) return;
    if (!r.res.write(`${piece.join('\n')}\n`)) await new Promise((resolve) => r.res.once('drain', resolve).once('close', resolve));
  }
  r.res.end();
}

export async function jobLogInfo(ctx: RouteContext, r: RouteRequest): Promise<void> {
  const jobId = checkJobId(r.params.id!);
  const job = await findJob(ctx, jobId);
  const file = logFile(ctx, jobId);
  let st: ReturnType<typeof jobLogStat>;
  try {
    st = jobLogStat(path.dirname(file));
  } catch (err) {
    throw new HttpError(403, `Cannot access log file: ${(err as Error).message}`);
  }
  sendJson(r.res, 200, {
    job_id: jobId,
    log_file: path.basename(file),
    path: file,
    exists: st !== undefined,
    size_bytes: st?.diskBytes ?? 0,
    lines: st ? await countLines(path.dirname(file)) : 0,
    last_modified: st ? st.mtime.toISOString() : null,
    status: job?.status ?? null,
  });
}
