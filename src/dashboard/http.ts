/**
 * Small HTTP helpers shared by the routes: errors that carry their status, JSON answers, and
 * query parameters validated with messages that name the parameter and its range.
 */
import type http from 'node:http';
import { isValidJobId } from '../shared/paths.js';
import { ConductorNotRunning, RpcError } from '../ipc/clientErrors.js';
import { ErrorCode } from '../ipc/messages.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message, status }, headers);
}

export function numberParam(
  query: URLSearchParams,
  name: string,
  rule: { min: number; max: number; default: number; integer?: boolean },
): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return rule.default;
  const value = Number(raw);
  const kind = rule.integer ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (rule.integer && !Number.isInteger(value)) || value < rule.min || value > rule.max) {
    throw new HttpError(400, `${name} must be ${kind} between ${rule.min} and ${rule.max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function booleanParam(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new HttpError(400, `${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** Job ids as the protocol defines them; checked before an id touches a path. */
export function checkJobId(raw: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `invalid job id: not valid URL encoding`);
  }
  if (!isValidJobId(id)) {
    throw new HttpError(400, `invalid job id ${JSON.stringify(String(id).slice(0, 80))}: job ids match [A-Za-z0-9_.-]{1,64} and are not "." or ".."`);
  }
  return id;
}

/** The seq a reconnecting EventSource sends back (Last-Event-ID), or `?since=`. */
export function resumeSeq(req: http.IncomingMessage, query: URLSearchParams): number | undefined {
  const header = req.headers['last-event-id'];
  const raw = (Array.isArray(header) ? header[0] : header) ?? query.get('since') ?? undefined;
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new HttpError(400, `Last-Event-ID / since must be an event seq (an integer ≥ 0), got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A conductor error as the HTTP answer a route gives: unknown job 404, bad params 400, conductor down 503. */
export function rpcToHttp(err: unknown, jobId?: string): never {
  if (err instanceof RpcError && err.code === ErrorCode.JOB_NOT_FOUND) throw new HttpError(404, `job not found: ${jobId}`);
  if (err instanceof RpcError && err.code === ErrorCode.INVALID_PARAMS) throw new HttpError(400, err.message);
  if (err instanceof ConductorNotRunning) throw new HttpError(503, err.message);
  throw err;
}
