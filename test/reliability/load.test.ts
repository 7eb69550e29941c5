/**
 * Load: 1,500 connections at once, each subscribing and calling. Up to the documented limit
 * (1,024) all are served; the rest are refused with a clear error; and once they close, no
 * descriptor is left behind in the conductor.
 */
import fs from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeValue, encodeFrame } from '../../src/ipc/framing.js';
import { ErrorCode } from '../../src/ipc/messages.js';
import { useConductor, waitFor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ client: false });

const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

type Outcome = 'served' | 'refused' | 'other';

async function client(socketPath: string): Promise<{ outcome: Outcome; socket: net.Socket; detail: string }> {
  // EAGAIN means the kernel's accept backlog is full: a client retries (DaemonClient does).
  for (;;) {
    const r = await attempt(socketPath);
    if (r.detail.includes('EAGAIN')) {
      r.socket.destroy();
      await new Promise((res) => setTimeout(res, 10));
      continue;
    }
    return r;
  }
}

function attempt(socketPath: string): Promise<{ outcome: Outcome; socket: net.Socket; detail: string }> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    const dec = new FrameDecoder();
    let got = { sub: false, ping: false };
    const done = (outcome: Outcome, detail: string) => resolve({ outcome, socket, detail });
    socket.on('error', (e) => done('other', e.message));
    socket.on('connect', () => {
      socket.write(Buffer.concat([encodeFrame([0, 1, 'daemon.monitor.stream', {}]), encodeFrame([0, 2, 'ping', {}])]));
    });
    socket.on('data', (chunk) => {
      for (const f of dec.push(chunk)) {
        const m = decodeValue(f) as any[];
        if (m[0] === 2 && m[1] === 'server.error') return done(m[2].code === ErrorCode.LIMIT_EXCEEDED ? 'refused' : 'other', m[2].message);
        if (m[0] === 1 && m[1] === 1 && m[2] === null) got = { ...got, sub: true };
        if (m[0] === 1 && m[1] === 2 && m[3]?.pong) got = { ...got, ping: true };
        if (got.sub && got.ping) return done('served', '');
      }
    });
  });
}

describe('load', () => {
  it('serves up to the connection limit, refuses the rest clearly, and leaks nothing', async () => {
    const fdsBefore = openFds(fixture.conductor.pid);
    const results = await Promise.all(Array.from({ length: 1500 }, () => client(fixture.conductor.socketPath)));
    const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
    const refusal = results.find((r) => r.outcome === 'refused');
    console.log(`load: ${count('served')} served, ${count('refused')} refused (${refusal?.detail}), ${count('other')} other; fixture.conductor fds ${fdsBefore} before`);
    expect(count('other')).toBe(0);
    expect(count('served')).toBe(1024);
    expect(count('refused')).toBe(476);
    expect(refusal!.detail).toMatch(/too many connections \(limit 1024\)/);
    for (const r of results) r.socket.destroy();
    const fdsAfter = await waitFor(() => (openFds(fixture.conductor.pid) <= fdsBefore + 2 ? openFds(fixture.conductor.pid) : 0), 15_000, 'descriptors to be released');
    console.log(`load: fixture.conductor fds after close ${fdsAfter}`);
  });
});
