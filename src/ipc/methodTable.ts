/**
 * One typed table of the socket methods, shared by DaemonClient (what a call sends and gets
 * back) and the conductor's handlers (what a handler receives after validation, what it must
 * return). protocol/schemas/methods.json stays the wire contract; test/ipc/methodTable.test.ts
 * checks this table against it (same method names, same param names, same required ones,
 * defaults where the schema has them), so the two cannot drift.
 *
 * Each entry lists its params' names by kind at run time; the compiler checks that list
 * against the params type (every key, nothing else, required keys marked 'required'), and
 * the handlers' param type follows from it: 'defaulted' keys are filled in by the validator.
 */
import type { EventEnvelope } from '../events/types.js';
import type { JobRecord, JobSpec, JobStatus } from '../events/jobRecord.js';
import type { CostFigures, SheetCost } from '../monitor/snapshot.js';
import type { RequestContext } from './connection.js';
import type { TraceResult } from '../monitor/syscallTrace.js';

/** optional: may be absent; defaulted: optional for a caller, always set for a handler. */
export type ParamKind = 'required' | 'optional' | 'defaulted';

/** For params type P: each key's allowed kinds (a key a caller must send is 'required'). */
type KindsOf<P> = { [K in keyof P]-?: object extends Pick<P, K> ? 'optional' | 'defaulted' : 'required' };

export interface MethodSpec<P, R, D extends keyof P = never> {
  /** Param names by kind; the test compares them with methods.json. */
  readonly params: Readonly<Record<string, ParamKind>>;
  /** Type carriers only (never set): params as sent, defaulted keys, result. */
  readonly _types?: { params: P; defaulted: D; result: R };
}

/** Declares a method: `method<Params, Result>()({ job_id: 'required', reason: 'optional' })`. */
function method<P extends object, R>() {
  return <const K extends KindsOf<P>>(params: K & Record<Exclude<keyof K, keyof P>, never>): MethodSpec<P, R, DefaultedKeys<K> & keyof P> => ({ params });
}
type DefaultedKeys<K> = { [N in keyof K]: K[N] extends 'defaulted' ? N : never }[keyof K];

/** A job record as job.get / job.list answer it: with its cost (null: queued, or nothing measured). */
export type JobWithCost = JobRecord & { cost: (CostFigures & { sheets: SheetCost[] }) | null };

export interface HelloResult {
  protocol_version: number;
  server_version: string;
  pid: number;
  started_at: number;
  head_seq: number;
  methods: string[];
  limits: Record<string, any>;
}


/**
 * Results not spelled out here (daemon.*, monitor.*): their schema in methods.json is the
 * contract; typing them twice would be the duplication this table removes.
 */
type Described = Record<string, any>;
type NoParams = Record<never, never>;

export const METHODS = {
  hello: method<{ protocol_version?: number; client?: string }, HelloResult>()({ protocol_version: 'defaulted', client: 'optional' }),
  ping: method<NoParams, { pong: true; ts: number }>()({}),
  'daemon.status': method<NoParams, Described>()({}),
  'daemon.config': method<NoParams, Described>()({}),
  'daemon.health': method<NoParams, Described>()({}),
  'daemon.shutdown': method<{ graceful?: boolean }, { shutting_down: true }>()({ graceful: 'defaulted' }),
  'events.read': method<
    { since?: number; limit?: number; job_id?: string; types?: string[] },
    { events: EventEnvelope[]; next_since: number; head_seq: number; has_more: boolean }
  >()({ since: 'defaulted', limit: 'defaulted', job_id: 'optional', types: 'optional' }),
  'daemon.monitor.stream': method<
    {
      since?: number;
      job_id?: string;
      types?: string[];
      include_snapshots?: boolean;
      on_overflow?: 'lag' | 'disconnect';
      max_queued_events?: number;
      max_queued_bytes?: number;
    },
    { subscription: number; head_seq: number }
  >()({
    since: 'optional',
    job_id: 'optional',
    types: 'optional',
    include_snapshots: 'defaulted',
    on_overflow: 'defaulted',
    max_queued_events: 'optional',
    max_queued_bytes: 'optional',
  }),
  unsubscribe: method<{ subscription: number }, { unsubscribed: true }>()({ subscription: 'required' }),
  'job.submit': method<JobSpec, { job_id: string; status: 'queued' | 'running'; seq: number }>()({
    job_id: 'optional',
    name: 'optional',
    cwd: 'optional',
    env: 'optional',
    labels: 'optional',
    limits: 'optional',
    sheets: 'required',
    restart: 'optional',
  }),
  'job.cancel': method<{ job_id: string; reason?: string }, { job_id: string; status: string }>()({ job_id: 'required', reason: 'optional' }),
  'job.pause': method<{ job_id: string }, { job_id: string; status: 'paused' }>()({ job_id: 'required' }),
  'job.resume': method<{ job_id: string }, { job_id: string; status: 'running' }>()({ job_id: 'required' }),
  'job.retry': method<{ job_id: string; from_sheet?: number }, { job_id: string; status: 'queued' | 'running'; attempt: number; from_sheet: number }>()({
    job_id: 'required',
    from_sheet: 'optional',
  }),
  'job.get': method<{ job_id: string }, JobWithCost>()({ job_id: 'required' }),
  'job.list': method<{ status?: JobStatus[]; limit?: number }, { jobs: JobWithCost[]; total: number }>()({ status: 'optional', limit: 'defaulted' }),
  'job.logs': method<
    { job_id: string; tail_lines?: number; offset?: number; max_bytes?: number },
    { job_id: string; path: string; size: number; next_offset: number; lines: string[]; truncated?: boolean; status: JobStatus }
  >()({ job_id: 'required', tail_lines: 'defaulted', offset: 'optional', max_bytes: 'defaulted' }),
  'job.clear': method<{ job_ids?: string[]; statuses?: JobStatus[]; older_than_seconds?: number }, Described>()({
    job_ids: 'optional',
    statuses: 'optional',
    older_than_seconds: 'optional',
  }),
  'job.trace': method<{ job_id: string; seconds?: number }, TraceResult>()({ job_id: 'required', seconds: 'defaulted' }),
  'debug.emit': method<{ count: number; size?: number; type?: string; stamp?: boolean }, { first_seq: number | null; last_seq: number | null }>()({
    count: 'required',
    size: 'defaulted',
    type: 'defaulted',
    stamp: 'defaulted',
  }),
  'monitor.snapshot': method<NoParams, Described>()({}),
  'monitor.history': method<{ since?: number; limit?: number; resolution?: 'full' | 'minute' }, Described>()({
    since: 'optional',
    limit: 'defaulted',
    resolution: 'defaulted',
  }),
  'monitor.process_history': method<{ pid: number; since?: number; limit?: number }, Described>()({ pid: 'required', since: 'optional', limit: 'defaulted' }),
  'monitor.job_history': method<{ job_id: string; since?: number; limit?: number }, Described>()({ job_id: 'required', since: 'optional', limit: 'defaulted' }),
  'monitor.resource_report': method<{ job_id: string }, Described>()({ job_id: 'required' }),
  // Their full results are in methods.json (src/fleet/fleetView.ts builds them).
  'fleet.hosts': method<NoParams, Described>()({}),
  'fleet.events': method<{ since_stream_seq?: number; limit?: number }, Described>()({ since_stream_seq: 'optional', limit: 'defaulted' }),
};

export type MethodTable = typeof METHODS;
export type MethodName = keyof MethodTable;

type Types<M extends MethodName> = NonNullable<MethodTable[M]['_types']>;
/** Params as a caller sends them. */
export type ParamsOf<M extends MethodName> = Types<M>['params'];
/** Params as a handler receives them: validated, schema defaults filled in. */
export type CheckedParamsOf<M extends MethodName> = ParamsOf<M> & Required<Pick<ParamsOf<M>, Types<M>['defaulted'] & keyof ParamsOf<M>>>;
export type ResultOf<M extends MethodName> = Types<M>['result'];

export type Handler<M extends MethodName> = (params: CheckedParamsOf<M>, ctx: RequestContext) => ResultOf<M> | Promise<ResultOf<M>>;
/** Every method's handler; debug.emit is served only when debug methods are on. */
export type Handlers = { [M in Exclude<MethodName, 'debug.emit'>]: Handler<M> } & { 'debug.emit'?: Handler<'debug.emit'> };
