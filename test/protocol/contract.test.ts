/**
 * PROTOCOL.md, the schema files and the code must say the same thing: every event type in
 * the doc's event table has a data schema (and no schema lacks a row), every method has a
 * section, the error table is messages.ts's ErrorCode, the limits table is the server's
 * defaults.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/ipc/messages.js';
import { DEFAULT_SERVER_LIMITS } from '../../src/ipc/server.js';
import { methodNames, resolveRef } from '../../src/ipc/schema.js';

const doc = fs.readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');

/** The body of the section whose heading starts with `## <title>`. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}`);
  expect(start, `section ${title}`).toBeGreaterThan(0);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .slice(1) // header
    .map((l) => l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
}

const events = (resolveRef('events.json#/events') as unknown as Record<string, { ephemeral: boolean; tags: string }>);

describe('event table', () => {
  const rows = tableRows(section('11. Events'));
  const documented = new Map<string, boolean>();
  for (const [first] of rows) {
    for (const m of first!.matchAll(/`([a-z_]+(?:\.[a-z_]+)+)`/g)) documented.set(m[1]!, documented.get(m[1]!) || first!.includes('ephemeral'));
  }

  it('names every event type that events.json defines, and no other', () => {
    expect(documented.size).toBeGreaterThanOrEqual(25);
    expect([...documented.keys()].sort()).toEqual(Object.keys(events).sort());
  });

  it('marks exactly the ephemeral types as ephemeral', () => {
    for (const [type, ephemeral] of documented) expect(events[type]!.ephemeral, type).toBe(ephemeral);
    expect(events['monitor.snapshot']!.ephemeral).toBe(true);
  });

  it('gives every type a data schema that is a map', () => {
    for (const type of Object.keys(events)) {
      const data = resolveRef(`events.json#/events/${type}/data`);
      expect(data.type ?? resolveRef(data.$ref!).type, type).toBe('object');
      expect(['none', 'job', 'sheet']).toContain(events[type]!.tags);
    }
  });
});

describe('methods', () => {
  it('every method with a schema has its own entry in PROTOCOL.md section 5', () => {
    const methods = section('5. Methods');
    for (const m of methodNames()) expect(methods, m).toContain(`\`${m}\``);
  });

  it('every notification in envelope.json is in the notification table', () => {
    const names = tableRows(section('6. Notifications')).map((r) => r[0]!.replace(/`/g, ''));
    expect(names.sort()).toEqual(Object.keys(resolveRef('envelope.json#/notifications')).sort());
  });
});

describe('error table', () => {
  it('is ErrorCode from src/ipc/messages.ts, code for code and name for name', () => {
    const rows = tableRows(section('8. Error codes'));
    const documented = Object.fromEntries(rows.map((r) => [r[1]!, Number(r[0])]));
    expect(documented).toEqual({ ...ErrorCode });
  });

  it('lists only known codes in methods.json', () => {
    const known = new Set<number>(Object.values(ErrorCode));
    for (const m of methodNames()) {
      for (const code of resolveRef(`methods.json#/methods/${m}/errors`) as unknown as number[]) expect(known.has(code), `${m} ${code}`).toBe(true);
    }
  });
});

describe('limits table', () => {
  it('states the server defaults', () => {
    const rows = tableRows(section('9. Limits'));
    const value = (name: string) => rows.find((r) => r[0] === `\`${name}\``)?.[1] ?? '';
    for (const key of ['max_frame_bytes', 'max_connections', 'max_subscriptions_per_connection', 'max_inflight_requests_per_connection', 'events_read_max_limit'] as const) {
      expect(value(key).replace(/[^0-9 ].*$/, '').trim(), key).toBe(String(DEFAULT_SERVER_LIMITS[key]));
    }
    const q = DEFAULT_SERVER_LIMITS.subscriber_queue;
    expect(value('subscriber_queue')).toContain(
      `{default_events: ${q.default_events}, max_events: ${q.max_events}, default_bytes: ${q.default_bytes}, max_bytes: ${q.max_bytes}}`,
    );
  });

  it('agrees with the params bounds of daemon.monitor.stream and events.read', () => {
    const q = DEFAULT_SERVER_LIMITS.subscriber_queue;
    expect(resolveRef('methods.json#/methods/daemon.monitor.stream/params/properties/max_queued_events').maximum).toBe(q.max_events);
    expect(resolveRef('methods.json#/methods/daemon.monitor.stream/params/properties/max_queued_bytes').maximum).toBe(q.max_bytes);
    expect(resolveRef('methods.json#/methods/events.read/params/properties/limit').maximum).toBe(DEFAULT_SERVER_LIMITS.events_read_max_limit);
  });
});
