/**
 * Worker-thread entry for the system probe: the /proc reads are synchronous (the cheapest
 * way to read them), so they run here, off the conductor's event loop, and a sample never
 * stalls the socket server. Messages: {id, rootPid, tags: [pid, tag][]} → {id, result}.
 */
import { parentPort } from 'node:worker_threads';
import { GpuProbe } from './gpuProbe.js';
import { SystemProbe } from './systemProbe.js';
import type { ProcessTag } from './types.js';

const port = parentPort;
if (!port) throw new Error('probeWorker must run in a worker thread');
const logs: string[] = [];
const probe = new SystemProbe({ gpuProbe: new GpuProbe({ log: (m) => logs.push(m) }) });

port.on('message', (msg: { id: number; rootPid: number; tags: Array<[number, ProcessTag]> }) => {
  void probe.sample(msg.rootPid, new Map(msg.tags)).then((result) => {
    port.postMessage({ id: msg.id, result, logs: logs.splice(0) });
  });
});
