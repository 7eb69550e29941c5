/**
 * Small steps the integration tests share when they drive jobs through a client: wait for a
 * job's end or a status, read its events (checked against events.json), catch an RpcError.
 */
import { expect } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import { validateValue } from '../../src/ipc/schema.js';
import type { EventEnvelope } from '../../src/events/types.js';
import { collectUntil } from './collect.js';
import { waitFor } from './conductorProcess.js';

const END_TYPES = ['job.completed', 'job.failed', 'job.cancelled', 'job.interrupted'];

/** The event that closes a job's run, whatever the outcome. */
export const isJobEnd = (e: { type: string }) => END_TYPES.includes(e.type);

/** A job's events from its first one through the one that ends it. */
export function eventsUntilEnd(client: DaemonClient, job_id: string, timeoutMs?: number): Promise<EventEnvelope[]> {
  return collectUntil(client.subscribe({ since: 0, job_id }), isJobEnd, timeoutMs);
}

/** Poll job.get until the job has `status`; resolves with the job. */
export function waitStatus(client: DaemonClient, job_id: string, status: string, ms = 20_000) {
  return waitFor(async () => {
    const j = await client.call('job.get', { job_id });
    return j.status === status ? j : undefined;
  }, ms, `${job_id} ${status}`);
}

/** Every event recorded for a job so far (up to 1000). */
export async function jobEvents(client: DaemonClient, job_id: string): Promise<EventEnvelope[]> {
  return (await client.call('events.read', { since: 0, limit: 1000, job_id })).events;
}

/** A job's events, each checked against its schema. */
export async function validJobEvents(client: DaemonClient, job_id: string): Promise<EventEnvelope[]> {
  const events = await jobEvents(client, job_id);
  expectSchemaValid(events);
  return events;
}

/** Each event's data matches its schema in events.json. */
export function expectSchemaValid(events: EventEnvelope[]): void {
  for (const e of events) {
    const r = validateValue(`events.json#/events/${e.type}/data`, e.data);
    expect(r.ok, `${e.type}: ${r.ok ? '' : r.message}`).toBe(true);
  }
}

/** The RpcError a call is expected to fail with (fails the test if it succeeds or throws another error). */
export async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RpcError);
  return err as RpcError;
}

/** Every event the conductor has recorded, read page by page from seq 0. */
export async function readAllEvents(client: DaemonClient): Promise<EventEnvelope[]> {
  const all: EventEnvelope[] = [];
  for (let since = 0; ; ) {
    const page = await client.call('events.read', { since, limit: 1000 });
    all.push(...page.events);
    since = page.next_since;
    if (!page.has_more) return all;
  }
}

/** A collectUntil condition: met once `count` different jobs have completed, failed or been cancelled. */
export function untilJobsEnded(count: number): (e: EventEnvelope) => boolean {
  const ended = new Set<string>();
  return (e) => {
    if (['job.completed', 'job.failed', 'job.cancelled'].includes(e.type)) ended.add(e.job_id!);
    return ended.size === count;
  };
}

/** The pid of a job's first sheet (its process group's leader) once it runs. */
export function sheetPid(client: DaemonClient, job_id: string, ms = 10_000, what = 'sheet pid'): Promise<number> {
  return waitFor(async () => (await client.call('job.get', { job_id })).sheets[0]?.pid as number | undefined, ms, what);
}
