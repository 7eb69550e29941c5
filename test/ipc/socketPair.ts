/** Both ends of one real Unix socket connection, removed after each test of the file. */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** Run `fn` after the current test. */
export function afterThisTest(fn: () => void): void {
  cleanups.push(fn);
}

export async function socketPair(): Promise<{ server: net.Socket; client: net.Socket }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-pair-'));
  const sock = path.join(dir, 's');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(sock, r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.createConnection(sock);
  const server = await accepted;
  afterThisTest(() => {
    client.destroy();
    server.destroy();
    srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, client };
}
