/**
 * SystemProbe: one sample of the machine and of a process tree (a root pid and all its
 * descendants), each process tagged with the job/sheet it works for.
 *
 * Linux: synchronous /proc reads (procReader) + CPU deltas (cpuTracker) + spread fd counts
 * (processDetails). With `sliceMs`, the reads are spread over event-loop turns: the sample
 * yields (setImmediate) whenever a synchronous stretch reaches sliceMs, so it can run on a
 * server's own thread. Elsewhere, or when forced: systeminformation (siFallback, loaded only
 * then), same result shape.
 * A sample that cannot be taken is `{ok: false, error}` — unknown, never zeros.
 *
 * Tags: the caller maps pids to tags (a sheet's pid, which is also its process group id since
 * sheets run detached). A process takes the tag of its nearest tagged ancestor-or-self; failing
 * that, the tag of its process group; failing that, the tag it had when last seen. Members of a
 * tagged group that were reparented away from the root (their parent died) are still sampled,
 * so escaped grandchildren stay visible. So are processes that left the group and session:
 * - once tagged, a process stays tagged (and sampled) while it lives (pid + start time);
 * - with `markerTag`, a process outside the tree whose environment carries a sheet's marker
 *   (sheetMarker.ts) is tagged by it: /proc/<pid>/environ is read once per new process of the
 *   conductor's uid started after the root, at most `environReadsPerSample` per sample, and
 *   remembered by pid + start time.
 */
import { performance } from 'node:perf_hooks';
import { CpuTracker, type CpuObservation } from './cpuTracker.js';
import type { GpuProbe } from './gpuProbe.js';
import { ProcessDetails } from './processDetails.js';
import { markerIn, type ProcIdentity } from './sheetMarker.js';
import { descendantsOf, ProcReader, runSliced, runToEnd, type CpuTotals, type ProcStat } from './procReader.js';
import type { GpuMetric, ProbeResult, ProbeSample, ProbeSource, ProcessMetric, ProcessTag, TagCpu } from './types.js';

export interface SystemProbeOptions {
  /** Where /proc is (tests point it at a missing directory to force failures). */
  procRoot?: string;
  /** 'auto' (default): /proc when it is there, else systeminformation. */
  source?: 'auto' | ProbeSource;
  /** When given, each sample also queries GPUs (concurrently with the /proc reads). */
  gpuProbe?: GpuProbe;
  /** Max processes whose open fds are recounted per sample (default 64; Infinity = all). */
  fdRefreshPerSample?: number;
  /** Command lines are truncated to this many characters (default 256). */
  commandMaxChars?: number;
  /** Bound on per-tag CPU accounts kept in memory (default 10 000). */
  maxTags?: number;
  /**
   * Spread a /proc sample over event-loop turns: yield whenever a synchronous stretch reaches
   * this many ms. Unset (default): the whole sample is one synchronous stretch.
   */
  sliceMs?: number;
  /** The tag a sheet marker (MZT_SHEET_ID value) stands for; unset: environments are not read. */
  markerTag?: (value: string) => ProcessTag | undefined;
  /** Bound on environments read per sample (default 64, ~2 ms; the rest wait for the next sample). */
  environReadsPerSample?: number;
}

const tagKey = (tag: ProcessTag): string => JSON.stringify([tag.job_id, tag.sheet_num]);
const tagFromKey = (key: string): ProcessTag => {
  const [job_id, sheet_num] = JSON.parse(key) as [string, number | null];
  return { job_id, sheet_num };
};

export class SystemProbe {
  readonly source: ProbeSource;
  private readonly reader: ProcReader;
  private readonly cpu: CpuTracker;
  private readonly details: ProcessDetails;
  private readonly gpuProbe: GpuProbe | undefined;
  private readonly commandMaxChars: number;
  private previousCpuTotals: CpuTotals | undefined;
  private readonly sliceMs: number | undefined;
  private readonly markerTag: SystemProbeOptions['markerTag'];
  private readonly environReadsPerSample: number;
  /** Live processes that were tagged, by pid: they keep their tag wherever they go. */
  private readonly remembered = new Map<number, { startTicks: number; tag: ProcessTag }>();
  /** Start time of each process whose environment was read (pid → startTicks). */
  private readonly environRead = new Map<number, number>();
  /** The sample in progress: samples never overlap (they share the CPU and fd state). */
  private running: Promise<void> = Promise.resolve();

  constructor(options: SystemProbeOptions = {}) {
    this.reader = new ProcReader(options.procRoot);
    const wanted = options.source ?? 'auto';
    this.source = wanted === 'auto' ? (this.reader.isAvailable() ? 'proc' : 'systeminformation') : wanted;
    this.cpu = new CpuTracker({ ticksPerSecond: this.reader.ticksPerSecond, maxTags: options.maxTags });
    this.commandMaxChars = options.commandMaxChars ?? 256;
    this.details = new ProcessDetails(this.reader, { refreshPerSample: options.fdRefreshPerSample ?? 64, commandMaxChars: this.commandMaxChars });
    this.gpuProbe = options.gpuProbe;
    this.sliceMs = options.sliceMs;
    this.markerTag = options.markerTag;
    this.environReadsPerSample = options.environReadsPerSample ?? 64;
  }

  /** Live processes (as of the last sample) that were ever seen with this tag. */
  knownProcesses(tag: ProcessTag): ProcIdentity[] {
    const out: ProcIdentity[] = [];
    for (const [pid, entry] of this.remembered) {
      if (entry.tag.job_id === tag.job_id && entry.tag.sheet_num === tag.sheet_num) out.push({ pid, startTicks: entry.startTicks });
    }
    return out;
  }

  /** Samples the tree rooted at rootPid. Never rejects: failures come back as `{ok: false}`. */
  sample(rootPid: number, tags: ReadonlyMap<number, ProcessTag> = new Map()): Promise<ProbeResult> {
    const next = this.running.then(() => this.sampleNow(rootPid, tags));
    this.running = next.then(() => undefined);
    return next;
  }

  private async sampleNow(rootPid: number, tags: ReadonlyMap<number, ProcessTag>): Promise<ProbeResult> {
    const startedMs = performance.now();
    const timestamp = Date.now() / 1000;
    const gpus = this.gpuProbe ? this.gpuProbe.query() : Promise.resolve<GpuMetric[]>([]);
    const gpuProbe = this.gpuProbe;
    const gpuMemory = gpus.then((g) => (g.length > 0 && gpuProbe ? gpuProbe.queryProcesses() : new Map<number, number>()));
    try {
      let partial: SampleBody;
      let blockingMs: number | null = null;
      let busyMs: number | null = null;
      if (this.source === 'proc') {
        const steps = this.sampleProc(rootPid, tags, startedMs);
        if (this.sliceMs === undefined) {
          partial = runToEnd(steps);
          blockingMs = busyMs = performance.now() - startedMs;
        } else {
          const run = await runSliced(steps, this.sliceMs);
          partial = run.value;
          blockingMs = run.longestMs;
          busyMs = run.busyMs;
        }
      } else {
        partial = await this.sampleFallback(rootPid, tags);
      }
      const vram = await gpuMemory;
      if (vram.size > 0) {
        for (const p of partial.processes) {
          const mb = vram.get(p.pid);
          if (mb !== undefined) p.gpu_memory_mb = mb;
        }
      }
      const sample: ProbeSample = { ...partial, ok: true, source: this.source, timestamp, gpus: await gpus, blocking_ms: blockingMs, busy_ms: busyMs, sample_duration_ms: 0 };
      sample.sample_duration_ms = performance.now() - startedMs;
      return sample;
    } catch (error) {
      await gpuMemory;
      return { ok: false, source: this.source, timestamp, error: error instanceof Error ? error.message : String(error), sample_duration_ms: performance.now() - startedMs };
    }
  }

  /** CPU seconds per job/sheet tag, exited descendants included (/proc source only). */
  cpuSecondsByTag(): TagCpu[] {
    return [...this.cpu.cpuSecondsByTag()].map(([key, ticks]) => ({ ...tagFromKey(key), cpu_seconds: ticks.cpuSeconds, exited_cpu_seconds: ticks.exitedCpuSeconds }));
  }

  /** Forgets a tag's CPU account once the caller has persisted it. */
  forgetTag(tag: ProcessTag): void {
    this.cpu.forgetTag(tagKey(tag));
  }

  private *sampleProc(rootPid: number, tags: ReadonlyMap<number, ProcessTag>, startedMs: number): Generator<void, SampleBody> {
    const all = yield* this.reader.readAllStatsSteps();
    const rootStat = all.get(rootPid);
    if (!rootStat) throw new Error(`root process ${rootPid} not found in ${this.reader.procRoot}`);
    // A zombie is no longer anyone's to watch: an escaped one may wait forever for its reaper.
    forgetGone(this.remembered, all, (entry) => entry.startTicks, true);
    forgetGone(this.environRead, all, (startTicks) => startTicks);
    const seeds = [rootPid];
    for (const stat of all.values()) {
      if ((stat.pgid !== rootStat.pgid && tags.has(stat.pgid)) || this.remembered.has(stat.pid)) seeds.push(stat.pid);
    }
    yield;
    let tree = descendantsOf(all, seeds);
    yield;
    const marked = yield* this.markedSteps(all, tree, rootStat.startTicks);
    if (marked.length > 0) tree = descendantsOf(all, [...seeds, ...marked]);
    const members = [...tree].map((pid) => all.get(pid)!);
    const resolve = tagResolver(all, tags);
    const tagOf = (pid: number) => resolve(pid) ?? this.remembered.get(pid)?.tag;
    for (const stat of members) {
      const tag = stat.pid === rootPid ? undefined : tagOf(stat.pid);
      if (tag) this.remembered.set(stat.pid, { startTicks: stat.startTicks, tag });
    }
    yield;

    const observations: CpuObservation[] = members.map((stat) => {
      const tag = tagOf(stat.pid);
      return { pid: stat.pid, ppid: stat.ppid, startTicks: stat.startTicks, ownTicks: stat.utimeTicks + stat.stimeTicks, childTicks: stat.cutimeTicks + stat.cstimeTicks, tag: tag && tagKey(tag) };
    });
    const percents = this.cpu.observe(observations, startedMs);
    yield;
    yield* this.details.updateSteps(members);

    yield;
    const memory = this.reader.readMemInfo();
    const load = this.reader.readLoadAvg();
    const cpuTotals = this.reader.readCpuTotals();
    const uptime = this.reader.readUptimeSeconds();
    const systemCpuPercent = this.systemCpuPercent(cpuTotals);
    yield;

    const processes: ProcessMetric[] = [];
    const zombiePids: number[] = [];
    for (const stat of members) {
      if (stat.state === 'Z') {
        zombiePids.push(stat.pid);
        continue;
      }
      const tag = tagOf(stat.pid);
      processes.push({
        pid: stat.pid,
        ppid: stat.ppid,
        command: this.details.command(stat),
        state: stat.state,
        cpu_percent: percents.get(stat.pid) ?? null,
        rss_mb: this.reader.rssMb(stat),
        vms_mb: this.reader.vmsMb(stat),
        threads: stat.threads,
        open_fds: this.details.openFds(stat),
        age_seconds: Math.max(0, uptime - stat.startTicks / this.reader.ticksPerSecond),
        job_id: tag?.job_id ?? null,
        sheet_num: tag?.sheet_num ?? null,
      });
      yield;
    }
    zombiePids.sort((a, b) => a - b);
    return {
      system_memory_total_mb: memory.totalMb,
      system_memory_available_mb: memory.availableMb,
      system_memory_used_mb: memory.usedMb,
      load_avg_1: load[0],
      load_avg_5: load[1],
      load_avg_15: load[2],
      cpu_count: cpuTotals.cpuCount,
      system_cpu_percent: systemCpuPercent,
      processes,
      zombie_count: zombiePids.length,
      zombie_pids: zombiePids,
      root: { pid: rootPid, cpu_percent: percents.get(rootPid) ?? null, rss_mb: this.reader.rssMb(rootStat) },
      tag_cpu: this.cpuSecondsByTag(),
    };
  }

  /**
   * Processes outside the tree that carry one of the caller's sheet markers (pids); each is
   * remembered with its tag. Every process's environment is read once (per pid + start time).
   */
  private *markedSteps(all: ReadonlyMap<number, ProcStat>, tree: ReadonlySet<number>, rootStartTicks: number): Generator<void, number[]> {
    const found: number[] = [];
    if (!this.markerTag) return found;
    const uid = process.getuid?.();
    let reads = 0;
    for (const stat of all.values()) {
      // Kernel threads (children of kthreadd, pid 2) have no environment; zombies neither.
      // Nor can a process older than the root carry a marker the root handed out.
      if (tree.has(stat.pid) || stat.ppid === 2 || stat.pid === 2 || stat.state === 'Z' || stat.startTicks < rootStartTicks) continue;
      if (this.environRead.get(stat.pid) === stat.startTicks) continue;
      // The child of a process read unmarked inherited that environment: no read (a busy
      // machine starts many). Not for pid 1, which adopts orphans rather than forking them.
      if (stat.ppid > 1 && this.environRead.get(stat.ppid) === all.get(stat.ppid)?.startTicks && !this.remembered.has(stat.ppid)) {
        this.environRead.set(stat.pid, stat.startTicks);
        continue;
      }
      if (reads++ >= this.environReadsPerSample) break;
      this.environRead.set(stat.pid, stat.startTicks);
      if (uid !== undefined && this.reader.ownerUid(stat.pid) !== uid) continue;
      const environ = this.reader.readEnviron(stat.pid);
      const value = environ && markerIn(environ);
      const tag = value === undefined ? undefined : this.markerTag(value);
      if (tag) {
        this.remembered.set(stat.pid, { startTicks: stat.startTicks, tag });
        found.push(stat.pid);
      }
      yield;
    }
    return found;
  }

  private async sampleFallback(rootPid: number, tags: ReadonlyMap<number, ProcessTag>): Promise<SampleBody> {
    const { readWithSystemInformation } = await import('./siFallback.js');
    const reading = await readWithSystemInformation(rootPid, this.commandMaxChars);
    const parents = new Map(reading.processes.map((p) => [p.pid, p.ppid]));
    const tagOf = (pid: number): ProcessTag | undefined => {
      for (let current: number | undefined = pid, hops = 0; current !== undefined && hops <= parents.size; current = parents.get(current), hops++) {
        const tag = tags.get(current);
        if (tag) return tag;
      }
      return undefined;
    };
    const zombies = reading.processes.filter((p) => p.state === 'Z').map((p) => p.pid).sort((a, b) => a - b);
    const processes = reading.processes
      .filter((p) => p.state !== 'Z')
      .map((p) => ({ ...p, job_id: tagOf(p.pid)?.job_id ?? null, sheet_num: tagOf(p.pid)?.sheet_num ?? null }));
    const root = reading.processes.find((p) => p.pid === rootPid)!;
    return {
      system_memory_total_mb: reading.memory.totalMb,
      system_memory_available_mb: reading.memory.availableMb,
      system_memory_used_mb: reading.memory.usedMb,
      load_avg_1: reading.load[0],
      load_avg_5: reading.load[1],
      load_avg_15: reading.load[2],
      cpu_count: reading.cpuCount,
      system_cpu_percent: reading.systemCpuPercent,
      processes,
      zombie_count: zombies.length,
      zombie_pids: zombies,
      root: { pid: rootPid, cpu_percent: root.cpu_percent, rss_mb: root.rss_mb },
      tag_cpu: [],
    };
  }

  private systemCpuPercent(totals: CpuTotals): number | null {
    const previous = this.previousCpuTotals;
    this.previousCpuTotals = totals;
    if (!previous) return null;
    const total = totals.totalTicks - previous.totalTicks;
    const idle = totals.idleTicks - previous.idleTicks;
    return total > 0 ? Math.min(100, Math.max(0, ((total - idle) / total) * 100)) : null;
  }
}

type SampleBody = Omit<ProbeSample, 'ok' | 'source' | 'timestamp' | 'gpus' | 'sample_duration_ms' | 'blocking_ms' | 'busy_ms'>;

/** Drops entries of processes that are gone (or whose pid now belongs to another process). */
function forgetGone<V>(byPid: Map<number, V>, all: ReadonlyMap<number, ProcStat>, startOf: (value: V) => number, zombiesToo = false): void {
  for (const [pid, value] of byPid) {
    const stat = all.get(pid);
    if (stat?.startTicks !== startOf(value) || (zombiesToo && stat.state === 'Z')) byPid.delete(pid);
  }
}

/**
 * Tag of a process: nearest tagged ancestor-or-self (by ppid), else its process group's tag.
 * Memoized per sample; every walk is bounded by the number of processes.
 */
function tagResolver(all: ReadonlyMap<number, ProcStat>, tags: ReadonlyMap<number, ProcessTag>): (pid: number) => ProcessTag | undefined {
  const memo = new Map<number, ProcessTag | null>();
  const byAncestry = (pid: number): ProcessTag | null => {
    const path: number[] = [];
    let found: ProcessTag | null = null;
    for (let current: number | undefined = pid; current !== undefined && path.length <= all.size; ) {
      const known = memo.get(current);
      if (known !== undefined) {
        found = known;
        break;
      }
      path.push(current);
      const tag = tags.get(current);
      if (tag) {
        found = tag;
        break;
      }
      const parent: number | undefined = all.get(current)?.ppid;
      current = parent === undefined || parent === current || parent === 0 ? undefined : parent;
    }
    for (const visited of path) memo.set(visited, found);
    return found;
  };
  return (pid) => byAncestry(pid) ?? tags.get(all.get(pid)?.pgid ?? -1) ?? undefined;
}
