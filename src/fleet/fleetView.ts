/**
 * What a conductor's dashboard shows of the fleet, read by the fleet worker over its own NATS
 * connection (the main thread asks by message, see fleetWorkerProtocol.ts): the host table
 * with each host's state, and a page of the fleet's event stream, newest first. Every answer
 * is bounded: hosts by FLEET_VIEW_MAX_HOSTS, events by the caller's limit (at most
 * FLEET_EVENTS_MAX_LIMIT) and each event's size by FLEET_EVENT_MAX_BYTES.
 */
import { DeliverPolicy, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeValue } from '../shared/msgpack.js';
import type { DurableEvent } from '../events/types.js';
import { HEARTBEAT_MS, HOSTS_BUCKET, HOST_TTL_MS, type HostEntry, type HostReport } from './hostRegistry.js';
import { EVENTS_STREAM, EVENTS_SUBJECTS } from './subjects.js';

export const FLEET_VIEW_MAX_HOSTS = 200;
export const FLEET_EVENTS_MAX_LIMIT = 500;
export const FLEET_EVENTS_DEFAULT_LIMIT = 100;
/** An event's stored bytes above this are shown as a stub: the page shows summaries only. */
export const FLEET_EVENT_MAX_BYTES = 4096;
/** A host that missed this many heartbeats is shown as stale (its entry expires at HOST_TTL_MS). */
const STALE_AFTER_S = (3 * HEARTBEAT_MS) / 1000;

export type FleetQuery = { kind: 'hosts' } | { kind: 'events'; since_stream_seq?: number; limit: number };

/** A host's entry as the view shows it: its report, without its identity and head, plus state and lag. */
export interface FleetHostView extends Omit<HostReport, 'head_seq'>, Pick<HostEntry, 'host' | 'pid' | 'last_seen'> {
  state: 'up' | 'stale';
  age_seconds: number;
  exported_seq: number;
  /** The host's local head minus what it exported, as of its last report; null from a host that does not report its head. */
  export_lag_events: number | null;
}

export interface FleetHostsAnswer {
  hosts: FleetHostView[];
  /** More live hosts than FLEET_VIEW_MAX_HOSTS: the rest are left out. */
  truncated: boolean;
  ts: number;
}

export interface FleetEventView {
  stream_seq: number;
  host: string;
  event: DurableEvent | (Omit<DurableEvent, 'data'> & { data: { view_truncated: true; bytes: number } });
}

export interface FleetEventsAnswer {
  /** Newest first. */
  events: FleetEventView[];
  /** The stream's last seq when read: the next poll's `since_stream_seq`. 0: no stream yet. */
  last_stream_seq: number;
  /** Events after `since_stream_seq` left out because more than `limit` came (the oldest of them). */
  skipped: number;
}

/** A live host entry (younger than HOST_TTL_MS) with its age in seconds. */
export interface LiveHost {
  entry: HostEntry;
  age: number;
}

/**
 * The live entries of the host table by name, at most `max` names read. Used by the dashboard's
 * view (through the worker) and by `mzt fleet` (FleetClient.hosts).
 */
export async function readLiveHosts(nc: NatsConnection, jsm: JetStreamManager, max: number): Promise<{ hosts: LiveHost[]; truncated: boolean; ts: number }> {
  const kv = await new Kvm(nc).open(HOSTS_BUCKET).catch(() => undefined);
  const ts = Date.now() / 1000;
  if (!kv) return { hosts: [], truncated: false, ts };
  // The keys from the bucket's stream info (kv.keys() would make a consumer for every poll of
  // every open page); a deleted key may still be listed, its get says so.
  const prefix = `$KV.${HOSTS_BUCKET}.`;
  const info = await jsm.streams.info(`KV_${HOSTS_BUCKET}`, { subjects_filter: `${prefix}>` });
  const names = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  names.sort();
  const hosts: LiveHost[] = [];
  for (const name of names.slice(0, max)) {
    const stored = await kv.get(name);
    if (!stored || stored.operation !== 'PUT') continue;
    let entry: HostEntry;
    try {
      entry = stored.json();
    } catch {
      continue; // not a host entry this version can read
    }
    const age = Math.max(0, ts - entry.last_seen);
    if (age * 1000 <= HOST_TTL_MS) hosts.push({ entry, age });
  }
  return { hosts, truncated: names.length > max, ts };
}

export async function readHosts(nc: NatsConnection, jsm: JetStreamManager): Promise<FleetHostsAnswer> {
  const { hosts, truncated, ts } = await readLiveHosts(nc, jsm, FLEET_VIEW_MAX_HOSTS);
  return { hosts: hosts.map(({ entry: e, age }) => hostView(e, age)), truncated, ts };
}

function hostView(e: HostEntry, age: number): FleetHostView {
  const exported = e.export?.exported_seq ?? 0;
  return {
    host: e.host,
    state: age > STALE_AFTER_S ? 'stale' : 'up',
    age_seconds: Math.round(age * 10) / 10,
    version: e.version,
    pid: e.pid,
    started_at: e.started_at,
    max_concurrent_jobs: e.max_concurrent_jobs,
    running_jobs: e.running_jobs,
    queued_jobs: e.queued_jobs,
    paused_jobs: e.paused_jobs,
    accepting_work: e.accepting_work,
    pressure_level: e.pressure_level,
    last_seen: e.last_seen,
    exported_seq: exported,
    export_lag_events: typeof e.head_seq === 'number' ? Math.max(0, e.head_seq - exported) : null,
    jobs: Array.isArray(e.jobs) ? e.jobs.slice(0, 50) : [],
  };
}

/**
 * The newest `limit` events of the stream, or (with `since_stream_seq`) those after it — the
 * newest `limit` of them when more came, with `skipped` saying how many were left out.
 */
export async function readEvents(nc: NatsConnection, jsm: JetStreamManager, q: { since_stream_seq?: number; limit: number }): Promise<FleetEventsAnswer> {
  const limit = Math.min(Math.max(1, Math.floor(q.limit)), FLEET_EVENTS_MAX_LIMIT);
  const info = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
  if (!info || info.state.messages === 0) return { events: [], last_stream_seq: info?.state.last_seq ?? 0, skipped: 0 };
  const last = info.state.last_seq;
  // A since past the stream's end (the stream was made anew): start over from its newest.
  const since = q.since_stream_seq !== undefined && q.since_stream_seq <= last ? q.since_stream_seq : undefined;
  const after = since ?? 0;
  if (after >= last) return { events: [], last_stream_seq: last, skipped: 0 };
  const start = Math.max(after + 1, last - limit + 1, info.state.first_seq);
  const skipped = since === undefined ? 0 : Math.max(0, start - (after + 1));
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, {
    filter_subjects: EVENTS_SUBJECTS,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: start,
  });
  const events: FleetEventView[] = [];
  const batch = await consumer.fetch({ max_messages: limit, expires: 2000 });
  for await (const m of batch) {
    events.push(view(m));
    if (m.seq >= last || events.length >= limit) break;
  }
  return { events: events.reverse(), last_stream_seq: last, skipped };
}

function view(m: { subject: string; seq: number; data: Uint8Array }): FleetEventView {
  const host = m.subject.split('.')[1]!;
  let event: DurableEvent;
  try {
    event = decodeValue(m.data) as DurableEvent;
  } catch {
    return { stream_seq: m.seq, host, event: { seq: 0, ts: 0, type: 'fleet.undecodable', data: { view_truncated: true, bytes: m.data.length } } };
  }
  if (m.data.length <= FLEET_EVENT_MAX_BYTES) return { stream_seq: m.seq, host, event };
  const { data: _data, ...rest } = event;
  return { stream_seq: m.seq, host, event: { ...rest, data: { view_truncated: true, bytes: m.data.length } } };
}
