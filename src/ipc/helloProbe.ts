/**
 * Is a conductor really answering on this socket? A successful connect proves nothing (a
 * stale socket file can accept nothing, or another program may own the path); a valid
 * `hello` response does.
 */
import net from 'node:net';
import { SocketFrameWriter, socketFrameReader } from './frameIO.js';
import { decodeValue } from './framing.js';
import { MSG_REQUEST, MSG_RESPONSE } from './messages.js';

export type HelloProbeResult =
  | { alive: true; hello: Record<string, unknown> }
  | { alive: false; reason: string };

export function probeHello(socketPath: string, timeoutMs = 2000): Promise<HelloProbeResult> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath });
    let settled = false;
    const done = (result: HelloProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ alive: false, reason: `no hello answer within ${timeoutMs} ms` }), timeoutMs);
    socket.on('connect', () => new SocketFrameWriter(socket).write([MSG_REQUEST, 1, 'hello', { client: 'mzt-probe' }]));
    socket.on('error', (err) => done({ alive: false, reason: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.on('close', () => done({ alive: false, reason: 'connection closed without a hello answer' }));
    const notOurProtocol = () => done({ alive: false, reason: 'the peer does not speak the conductor protocol' });
    socketFrameReader(socket, 1024 * 1024).listen((frame) => {
      if (settled) return;
      let msg: unknown;
      try {
        msg = decodeValue(frame);
      } catch {
        notOurProtocol();
        return;
      }
      if (Array.isArray(msg) && msg[0] === MSG_RESPONSE && msg[1] === 1 && msg[2] == null && msg[3] && typeof msg[3] === 'object') {
        done({ alive: true, hello: msg[3] as Record<string, unknown> });
      }
    }, notOurProtocol);
  });
}
