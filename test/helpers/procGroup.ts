/**
 * What /proc says about a process group (a sheet's tree): the independent reading tests
 * compare the conductor's figures against.
 */
import fs from 'node:fs';

export interface ProcReading {
  pid: number;
  state: string;
  rss_mb: number;
  /** utime + stime + cutime + cstime (own CPU and that of the children it reaped), in seconds (USER_HZ 100). */
  cpu_seconds: number;
}

/** Live (non-zombie) processes of group `pgid`. */
export function readGroup(pgid: number): ProcReading[] {
  const out: ProcReading[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    let status: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid || f[0] === 'Z') continue;
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    out.push({ pid: Number(name), state: f[0]!, rss_mb: rss ? Number(rss[1]) / 1024 : 0, cpu_seconds: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100 });
  }
  return out;
}

export function sumGroup(pgid: number): { processes: number; rss_mb: number; cpu_seconds: number } {
  const procs = readGroup(pgid);
  return {
    processes: procs.length,
    rss_mb: procs.reduce((n, p) => n + p.rss_mb, 0),
    cpu_seconds: procs.reduce((n, p) => n + p.cpu_seconds, 0),
  };
}
