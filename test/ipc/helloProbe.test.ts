/**
 * probeHello against real listeners on a Unix socket: only a valid hello answer counts as a
 * live conductor; a bad frame, undecodable bytes or silence do not.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SocketFrameWriter, socketFrameReader } from '../../src/ipc/frameIO.js';
import { decodeValue } from '../../src/ipc/framing.js';
import { probeHello } from '../../src/ipc/helloProbe.js';
import { afterThisTest } from './socketPair.js';

/** A listener that does `onConnect` with each accepted socket. */
async function listener(onConnect: (socket: net.Socket) => void): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-probe-'));
  const socketPath = path.join(dir, 's');
  const server = net.createServer(onConnect);
  await new Promise<void>((r) => server.listen(socketPath, r));
  afterThisTest(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return socketPath;
}

describe('probeHello', () => {
  it('alive: the peer answers the hello request with a result map', async () => {
    const socketPath = await listener((socket) => {
      socketFrameReader(socket, 1024).listen((body) => {
        const [, id, method] = decodeValue(body) as [number, number, string];
        if (method === 'hello') new SocketFrameWriter(socket).write([1, id, null, { protocol_version: 1 }]);
      }, () => socket.destroy());
    });
    expect(await probeHello(socketPath, 2000)).toEqual({ alive: true, hello: { protocol_version: 1 } });
  });

  it('not alive: a zero-length frame, bytes that are not MessagePack, or no answer', async () => {
    const zeroLength = await listener((socket) => socket.write(Buffer.alloc(4)));
    const notMsgpack = await listener((socket) => socket.write(Buffer.from([0, 0, 0, 1, 0xc1])));
    const silent = await listener(() => undefined);
    const notOurs = { alive: false, reason: 'the peer does not speak the conductor protocol' };
    expect(await probeHello(zeroLength, 2000)).toEqual(notOurs);
    expect(await probeHello(notMsgpack, 2000)).toEqual(notOurs);
    expect(await probeHello(silent, 300)).toEqual({ alive: false, reason: 'no hello answer within 300 ms' });
  });
});
