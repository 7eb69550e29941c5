/**
 * A minimal SSE client for tests: real HTTP, parses `id:`/`event:`/`data:` frames, can send
 * Last-Event-ID, can stop reading (to play a stalled browser), and waits for conditions.
 */
import http from 'node:http';

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Resolves with the first event (from `from` on) matching, or rejects after timeoutMs. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  ended: Promise<void>;
  pause(): void;
  resume(): void;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let resolveEnded!: () => void;
      const ended = new Promise<void>((r) => (resolveEnded = r));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const e: SseEvent = { event: 'message', data: undefined };
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (field === 'id') e.id = value;
            else if (field === 'event') e.event = value;
            else if (field === 'data') data.push(value);
          }
          if (data.length === 0) continue; // retry: or comment frames
          const text = data.join('\n');
          try {
            e.data = JSON.parse(text);
          } catch {
            e.data = text;
          }
          events.push(e);
        }
        for (const w of [...waiters]) w();
      });
      res.on('end', resolveEnded);
      res.on('close', resolveEnded);
      let body = '';
      if (res.statusCode !== 200) res.on('data', (c: string) => (body += c));
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        ended,
        waitFor(pred, timeoutMs = 10_000, from = 0) {
          return new Promise((ok, fail) => {
            const check = () => {
              for (let i = from; i < events.length; i++) {
                if (pred(events[i]!)) {
                  waiters.delete(check);
                  clearTimeout(timer);
                  ok(events[i]!);
                  return;
                }
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`SSE: no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(', ') || 'nothing'}${body ? `; body ${body}` : ''}`));
            }, timeoutMs);
            waiters.add(check);
            void ended.then(() => setTimeout(check, 0));
            check();
          });
        },
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => req.destroy(),
      };
      resolve(client);
    });
    req.on('error', reject);
  });
}

/** A plain GET: status, headers and body text. The path is sent exactly as written (no dot-segment resolution). */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const m = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url);
  if (!m) throw new Error(`httpGet: unsupported URL ${url}`);
  return new Promise((resolve, reject) => {
    http
      .get({ hostname: m[1], port: Number(m[2]), path: m[3] ?? '/', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}
