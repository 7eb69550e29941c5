/**
 * Linux fast path: synchronous reads of /proc.
 *
 * Synchronous on purpose: DESIGN.md measured async fs 2.5-3x slower for these tiny files
 * (`stat` of 200 processes ≈ 5 ms sync). The cost is that each read blocks the event loop,
 * so the caller keeps per-sample work small (fd counts are spread over samples).
 *
 * Processes vanish at any moment: ENOENT/ESRCH on a per-process file is normal and means
 * "gone", never an error. A failure to read a system-wide file is an error (thrown).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';

/** The fields of /proc/<pid>/stat this probe uses (proc(5) field numbers in comments). */
export interface ProcStat {
  pid: number; // 1
  comm: string; // 2, without the parentheses
  state: string; // 3
  ppid: number; // 4
  pgid: number; // 5
  utimeTicks: number; // 14
  stimeTicks: number; // 15
  /** Times of waited-for (reaped) children, added by the kernel when the parent reaps them. */
  cutimeTicks: number; // 16
  cstimeTicks: number; // 17
  threads: number; // 20
  /** Start time in clock ticks after boot: with pid, it identifies a process across pid reuse. */
  startTicks: number; // 22
  vsizeBytes: number; // 23
  rssPages: number; // 24
}

export class ProcParseError extends Error {
  override name = 'ProcParseError';
}

/**
 * Parses one /proc/<pid>/stat line. `comm` may hold spaces and parentheses (a process can name
 * itself "a) (b"), so the comm ends at the LAST ')' of the line: nothing after it can contain one.
 */
export function parseStatLine(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new ProcParseError(`stat line has no "(comm)" field: ${JSON.stringify(line.slice(0, 80))}`);
  const pid = Number(line.slice(0, open).trim());
  // After ") " come fields 3, 4, ... separated by single spaces.
  const rest = line.slice(close + 2).trim().split(' ');
  const field = (n: number): number => {
    const value = Number(rest[n - 3]);
    if (!Number.isFinite(value)) throw new ProcParseError(`stat field ${n} is not a number in ${JSON.stringify(line.slice(0, 80))}`);
    return value;
  };
  if (!Number.isInteger(pid) || rest.length < 22) throw new ProcParseError(`malformed stat line: ${JSON.stringify(line.slice(0, 80))}`);
  return {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0]!,
    ppid: field(4),
    pgid: field(5),
    utimeTicks: field(14),
    stimeTicks: field(15),
    cutimeTicks: field(16),
    cstimeTicks: field(17),
    threads: field(20),
    startTicks: field(22),
    vsizeBytes: field(23),
    rssPages: field(24),
  };
}

/** True for the errors that mean "this process is gone" (or became unreadable as it died). */
export function isVanishedError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

export interface MemInfo {
  totalMb: number;
  availableMb: number;
  usedMb: number;
}

export interface CpuTotals {
  /** Sum of all fields of the aggregate `cpu` line of /proc/stat (ticks, all cores). */
  totalTicks: number;
  /** idle + iowait ticks. */
  idleTicks: number;
  cpuCount: number;
}

/** Clock ticks per second and page size, read once per process (they cannot change). */
export interface KernelConstants {
  ticksPerSecond: number;
  pageSizeBytes: number;
}

let cachedConstants: KernelConstants | undefined;

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback; // 100 Hz and 4 KiB are what Linux uses on every common architecture.
  }
}

/**
 * AT_CLKTCK and AT_PAGESZ from this process's ELF auxiliary vector (/proc/self/auxv: pairs of
 * native words), what getconf itself reports, without spawning it on the caller's event loop.
 */
function fromAuxv(): KernelConstants | undefined {
  try {
    const auxv = readFileSync('/proc/self/auxv');
    if (auxv.length % 16 !== 0 || !['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(process.arch)) return undefined;
    const bigEndian = endianness() === 'BE';
    const read = (offset: number) => Number(bigEndian ? auxv.readBigUInt64BE(offset) : auxv.readBigUInt64LE(offset));
    let ticksPerSecond: number | undefined;
    let pageSizeBytes: number | undefined;
    for (let offset = 0; offset + 16 <= auxv.length; offset += 16) {
      const type = read(offset);
      if (type === 0) break; // AT_NULL
      if (type === 17) ticksPerSecond = read(offset + 8); // AT_CLKTCK
      if (type === 6) pageSizeBytes = read(offset + 8); // AT_PAGESZ
    }
    const valid = (n: number | undefined): n is number => n !== undefined && Number.isInteger(n) && n > 0;
    return valid(ticksPerSecond) && valid(pageSizeBytes) ? { ticksPerSecond, pageSizeBytes } : undefined;
  } catch {
    return undefined;
  }
}

export function kernelConstants(): KernelConstants {
  cachedConstants ??= fromAuxv() ?? { ticksPerSecond: getconf('CLK_TCK', 100), pageSizeBytes: getconf('PAGESIZE', 4096) };
  return cachedConstants;
}

const MB = 1024 * 1024;

export class ProcReader {
  readonly ticksPerSecond: number;
  readonly pageSizeBytes: number;

  constructor(readonly procRoot = '/proc', constants: KernelConstants = kernelConstants()) {
    this.ticksPerSecond = constants.ticksPerSecond;
    this.pageSizeBytes = constants.pageSizeBytes;
  }

  /** Whether this looks like a Linux /proc (the fast path can be used). */
  isAvailable(): boolean {
    try {
      readFileSync(`${this.procRoot}/self/stat`, 'utf8');
      readFileSync(`${this.procRoot}/meminfo`, 'utf8');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * One pass over /proc/<pid>/stat for every process on the machine (this kernel has no
   * task/<tid>/children, so descendants are found from the ppid of everyone).
   * Processes that vanish or cannot be parsed mid-scan are skipped; an unreadable /proc throws.
   * As steps: yields after each process read, so a caller can spread the scan over ticks
   * (runToEnd runs it in one go).
   */
  *readAllStatsSteps(): Generator<void, Map<number, ProcStat>> {
    const stats = new Map<number, ProcStat>();
    const names = readdirSync(this.procRoot);
    yield;
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue; // only numeric entries are processes
      const stat = this.readStat(Number(name));
      if (stat) stats.set(stat.pid, stat);
      yield;
    }
    return stats;
  }

  /** The stat of one process, or undefined when it is gone (or its stat is unparseable). */
  readStat(pid: number): ProcStat | undefined {
    let text: string;
    try {
      text = readFileSync(`${this.procRoot}/${pid}/stat`, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isVanishedError(error) || code === 'EACCES' || code === 'EPERM') return undefined;
      throw error;
    }
    try {
      return parseStatLine(text);
    } catch {
      return undefined; // a truncated read of a dying process; it will be seen next sample or not at all
    }
  }

  /** argv joined by spaces, truncated to maxChars; undefined if gone or argv is empty (kernel threads, zombies). */
  readCommandLine(pid: number, maxChars = 256): string | undefined {
    let raw: string;
    try {
      raw = readFileSync(`${this.procRoot}/${pid}/cmdline`, 'utf8');
    } catch (error) {
      if (isVanishedError(error) || (error as NodeJS.ErrnoException).code === 'EACCES') return undefined;
      throw error;
    }
    const joined = raw.replace(/\0+$/, '').replaceAll('\0', ' ');
    if (joined.length === 0) return undefined;
    return joined.length > maxChars ? joined.slice(0, maxChars) : joined;
  }

  /**
   * The environment a process started with (NUL-separated `NAME=value`), or undefined when gone
   * or not ours to read. Costs one read of up to the size of its environment: callers cache.
   */
  readEnviron(pid: number): Buffer | undefined {
    try {
      return readFileSync(`${this.procRoot}/${pid}/environ`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isVanishedError(error) || code === 'EACCES' || code === 'EPERM' || code === 'ESRCH') return undefined;
      throw error;
    }
  }

  /** The uid owning a process (its /proc directory), or undefined when gone. */
  ownerUid(pid: number): number | undefined {
    try {
      return statSync(`${this.procRoot}/${pid}`).uid;
    } catch {
      return undefined;
    }
  }

  /** Number of open file descriptors, or undefined when gone or not ours to read. The costly read. */
  countOpenFds(pid: number): number | undefined {
    try {
      return readdirSync(`${this.procRoot}/${pid}/fd`).length;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isVanishedError(error) || code === 'EACCES' || code === 'EPERM') return undefined;
      throw error;
    }
  }

  readMemInfo(): MemInfo {
    const text = readFileSync(`${this.procRoot}/meminfo`, 'utf8');
    const kb = (key: string): number | undefined => {
      const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return match ? Number(match[1]) : undefined;
    };
    const total = kb('MemTotal');
    // MemAvailable exists since Linux 3.14; older kernels: the classic free + buffers + cached estimate.
    const available = kb('MemAvailable') ?? sumIfAll([kb('MemFree'), kb('Buffers'), kb('Cached')]);
    if (total === undefined || available === undefined) throw new ProcParseError('meminfo lacks MemTotal or MemAvailable');
    return { totalMb: total / 1024, availableMb: available / 1024, usedMb: (total - available) / 1024 };
  }

  readLoadAvg(): [number, number, number] {
    const parts = readFileSync(`${this.procRoot}/loadavg`, 'utf8').split(' ').slice(0, 3).map(Number);
    if (parts.length < 3 || parts.some((n) => !Number.isFinite(n))) throw new ProcParseError('loadavg is malformed');
    return [parts[0]!, parts[1]!, parts[2]!];
  }

  readCpuTotals(): CpuTotals {
    const text = readFileSync(`${this.procRoot}/stat`, 'utf8');
    const lines = text.split('\n');
    const aggregate = lines[0]?.startsWith('cpu ') ? lines[0].split(/\s+/).slice(1).filter(Boolean).map(Number) : [];
    if (aggregate.length < 4 || aggregate.some((n) => !Number.isFinite(n))) throw new ProcParseError('/proc/stat has no aggregate cpu line');
    let cpuCount = 0;
    for (const line of lines) if (/^cpu\d/.test(line)) cpuCount++;
    return {
      totalTicks: aggregate.reduce((a, b) => a + b, 0),
      idleTicks: aggregate[3]! + (aggregate[4] ?? 0),
      cpuCount,
    };
  }

  /** Seconds since boot: with a process's startTicks it gives the process's age. */
  readUptimeSeconds(): number {
    const uptime = Number(readFileSync(`${this.procRoot}/uptime`, 'utf8').split(' ')[0]);
    if (!Number.isFinite(uptime)) throw new ProcParseError('uptime is malformed');
    return uptime;
  }

  rssMb(stat: ProcStat): number {
    return (stat.rssPages * this.pageSizeBytes) / MB;
  }

  vmsMb(stat: ProcStat): number {
    return stat.vsizeBytes / MB;
  }
}

/** Runs a step generator (see readAllStatsSteps) to its end without pausing. */
export function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Runs steps, yielding to the event loop (setImmediate: pending I/O is served first) before the
 * first and whenever a synchronous stretch reaches sliceMs. Returns the result, the longest stretch and their sum.
 */
export async function runSliced<T>(steps: Generator<void, T>, sliceMs: number): Promise<{ value: T; longestMs: number; busyMs: number }> {
  // The first slice gets a turn of its own too: not the end of whatever started the run (a
  // timer's state-machine transitions), which would lengthen it.
  await new Promise<void>((resolve) => setImmediate(resolve));
  let longestMs = 0;
  let busyMs = 0;
  let stretchStart = performance.now();
  for (;;) {
    const step = steps.next();
    const now = performance.now();
    if (step.done || now - stretchStart >= sliceMs) {
      const stretch = now - stretchStart;
      busyMs += stretch;
      if (stretch > longestMs) longestMs = stretch;
      if (step.done) return { value: step.value, longestMs, busyMs };
      await new Promise<void>((resolve) => setImmediate(resolve));
      stretchStart = performance.now();
    }
  }
}

function sumIfAll(values: (number | undefined)[]): number | undefined {
  let sum = 0;
  for (const value of values) {
    if (value === undefined) return undefined;
    sum += value;
  }
  return sum;
}

/**
 * The processes descended from the seeds (the seeds included), from one stat scan.
 * A pid that is not in `stats` is ignored. Bounded by the size of `stats`.
 */
export function descendantsOf(stats: ReadonlyMap<number, ProcStat>, seeds: Iterable<number>): Set<number> {
  const children = new Map<number, number[]>();
  for (const stat of stats.values()) {
    if (stat.ppid === stat.pid) continue;
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat.pid);
    else children.set(stat.ppid, [stat.pid]);
  }
  const found = new Set<number>();
  const pending: number[] = [];
  for (const seed of seeds) if (stats.has(seed) && !found.has(seed)) (found.add(seed), pending.push(seed));
  while (pending.length > 0) {
    const pid = pending.pop()!;
    for (const child of children.get(pid) ?? []) {
      if (!found.has(child)) {
        found.add(child);
        pending.push(child);
      }
    }
  }
  return found;
}
