// A request flood on the conductor's own dashboard: one client hammers one route over keep-alive
// connections for a few seconds; counts answers by status and the conductor's CPU meanwhile
// (utime+stime from /proc, in percent of one core). Run after `npm run build`:
//   node scripts/bench-dashboard-flood.mjs [--seconds 5] [--connections 32]
// With --no-token it floods without the token (a second account would); the default sends it.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DaemonClient } from '../dist/ipc/client.js';
import { opt, startConductor } from './benchKit.mjs';

const seconds = opt('seconds', 5);
const connections = opt('connections', 32);
const route = process.argv.includes('--route') ? process.argv[process.argv.indexOf('--route') + 1] : '/api/jobs';
const withToken = !process.argv.includes('--no-token');

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-bench-flood-'));
fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ dashboard_enabled: true, dashboard_port: 0 }));
const conductor = await startConductor(home);
const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
const loginUrl = (await client.call('daemon.status', {})).dashboard_url;
await client.close();
const { port, searchParams } = new URL(loginUrl);
const token = searchParams.get('token');
const headers = withToken && token ? { authorization: `Bearer ${token}` } : {};
// Let the bridge connect first, so the route answers what it would in use.
await new Promise((r) => setTimeout(r, 1000));

const cpuTicks = () => {
  const f = fs.readFileSync(`/proc/${conductor.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const counts = {};
const deadline = Date.now() + seconds * 1000;
const ticks0 = cpuTicks();
const t0 = process.hrtime.bigint();
const one = () =>
  new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: route, headers, agent }, (res) => {
      counts[res.statusCode] = (counts[res.statusCode] ?? 0) + 1;
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', (err) => {
      counts[err.code] = (counts[err.code] ?? 0) + 1;
      resolve();
    });
  });
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (Date.now() < deadline) await one();
  }),
);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const USER_HZ = 100; // /proc/PID/stat counts CPU time in 1/100 s on Linux
const cpuPercent = ((cpuTicks() - ticks0) / USER_HZ / wall) * 100;
const total = Object.values(counts).reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({ route, with_token: withToken, connections, seconds: Number(wall.toFixed(2)), requests: total, per_second: Math.round(total / wall), by_status: counts, conductor_cpu_percent_of_one_core: Math.round(cpuPercent) }),
);
agent.destroy();
await conductor.stop();
fs.rmSync(home, { recursive: true, force: true });
