/**
 * SseStream over a real HTTP server: the frame format, and one serialization of an event however
 * many streams send it (the bridge hands every open page the same event object).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SseStream } from '../../src/dashboard/sse.js';

const servers: http.Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** Opens `n` SSE responses on a local server and hands them over once all are open. */
async function openStreams(n: number): Promise<{ streams: SseStream[]; bodies: () => string[] }> {
  const streams: SseStream[] = [];
  const texts: string[] = Array.from({ length: n }, () => '');
  let opened!: () => void;
  const allOpen = new Promise<void>((r) => (opened = r));
  const server = http.createServer((req, res) => {
    streams.push(new SseStream(res, { retryMs: 500 }));
    if (streams.length === n) opened();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < n; i++) {
    http.get({ port, host: '127.0.0.1', path: '/' }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (texts[i] += chunk));
    });
  }
  await allOpen;
  return { streams, bodies: () => texts };
}

describe('SseStream', () => {
  it('frames id, event and data; a string with newlines becomes several data lines', async () => {
    const { streams, bodies } = await openStreams(1);
    streams[0]!.send('job.completed', { seq: 7, type: 'job.completed' }, 7);
    streams[0]!.send('note', 'two\nlines');
    await vi.waitFor(() => expect(bodies()[0]).toContain('data: lines'));
    expect(bodies()[0]).toBe(
      'retry: 500\n\nid: 7\nevent: job.completed\ndata: {"seq":7,"type":"job.completed"}\n\nevent: note\ndata: two\ndata: lines\n\n',
    );
  });

  it('serializes an event once for every stream that sends it', async () => {
    const { streams, bodies } = await openStreams(3);
    const stringify = vi.spyOn(JSON, 'stringify');
    const event = { seq: 1, type: 'sheet.started', data: { pid: 42 } };
    for (const s of streams) s.send(event.type, event, event.seq);
    for (const s of streams) s.send('heartbeat', { ts: 1 }); // a new object each time: serialized each time
    expect(stringify.mock.calls.filter(([v]) => v === event)).toHaveLength(1);
    await vi.waitFor(() => expect(bodies().every((b) => b.includes('event: heartbeat'))).toBe(true));
    for (const b of bodies()) expect(b).toContain('id: 1\nevent: sheet.started\ndata: {"seq":1,"type":"sheet.started","data":{"pid":42}}\n\n');
  });
});
