/**
 * A deliberately minimal protocol peer (net + framing only), for tests that must send what
 * no well-behaved client would.
 */
import net from 'node:net';
import { FrameDecoder, decodeValue, encodeFrame } from '../../src/ipc/framing.js';

export class RawClient {
  readonly messages: unknown[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  private decoder = new FrameDecoder(64 * 1024 * 1024);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const frame of this.decoder.push(chunk)) this.messages.push(decodeValue(frame));
      this.wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.wake();
      resolve();
    }));
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer | Uint8Array): void {
    this.socket.write(bytes);
  }

  request(id: number, method: string, params: unknown): void {
    this.send(encodeFrame([0, id, method, params]));
  }

  /** Wait until a message matching `pred` has arrived (or the connection closed). */
  async waitFor(pred: (m: any) => boolean, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(pred);
      if (found !== undefined) return found;
      if (this.socket.destroyed) throw new Error(`connection closed; got ${JSON.stringify(this.messages)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async response(id: number, timeoutMs = 5000): Promise<[number, number, any, any]> {
    return this.waitFor((m) => Array.isArray(m) && m[0] === 1 && m[1] === id, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
