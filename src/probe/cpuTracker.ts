/**
 * CPU percent from tick deltas between samples, and CPU seconds per tag (job/sheet) that
 * survive the exit of the processes that used them.
 *
 * Identity: a process is `pid:startTicks`, so a reused pid is a new process, never a jump.
 * cpu_percent: own (utime+stime) tick delta / wall delta, 100 = one full core. It is null the
 * first time a process is seen: with one sample nothing honest can be said.
 *
 * Per-tag accounting rule (never counts a tick twice):
 *  1. A process seen for the first time credits its tag with everything it has used so far:
 *     own ticks + child ticks (children it already reaped, which were its descendants).
 *  2. A process seen again credits its tag with its own tick delta.
 *  3. Children that exited between samples: when a parent reaps a child, the kernel adds the
 *     child's own + child ticks (its "inclusive" ticks) to the parent's cutime+cstime. For each
 *     surviving tracked process P, let growth = Δ(cutime+cstime). Part of it is the already
 *     credited (last known inclusive) ticks of tracked processes that vanished below P — found
 *     by walking their last known ppid chain up to the nearest surviving tracked ancestor.
 *     The rest, `growth − Σ last inclusive`, is new CPU of processes that no longer exist:
 *     the final moments of the vanished tracked ones and whole short lives never sampled.
 *     It is credited (as exited CPU) to the tag the vanished tracked children shared, or, if
 *     there were none or they had different tags, to P's tag. A negative rest (a vanished
 *     process was reparented instead of reaped by its ancestor) counts as zero: that
 *     process's last moments are lost rather than someone else's ticks counted twice.
 *  4. When a tracked process vanishes, what was credited for it moves into its tag's
 *     `exited` share (the total does not change).
 * A process whose tag changes between samples takes its credited ticks to the new tag.
 * Limits: a child spawned and reaped between two samples by an untagged parent (e.g. a sheet
 * that lived less than one interval, reaped by the conductor) lands in the untagged bucket,
 * which is not reported; a child reaped with SIGCHLD ignored adds nothing to cutime.
 */

export interface CpuObservation {
  pid: number;
  ppid: number;
  startTicks: number;
  /** utime + stime */
  ownTicks: number;
  /** cutime + cstime */
  childTicks: number;
  /** Opaque tag key (e.g. job and sheet), or undefined for untagged processes. */
  tag: string | undefined;
}

export interface TagTicks {
  cpuSeconds: number;
  exitedCpuSeconds: number;
}

interface Tracked {
  key: string;
  pid: number;
  ppid: number;
  tag: string | undefined;
  ownTicks: number;
  childTicks: number;
  /** Ticks credited to the tag for this process over its life. */
  credited: number;
}

interface TagAccount {
  totalTicks: number;
  exitedTicks: number;
  lastUpdatedSample: number;
}

export interface CpuTrackerOptions {
  ticksPerSecond: number;
  /** Bound on remembered tags; beyond it, the least recently updated tags without live processes are forgotten. */
  maxTags?: number;
}

const keyOf = (pid: number, startTicks: number): string => `${pid}:${startTicks}`;

export class CpuTracker {
  private readonly ticksPerSecond: number;
  private readonly maxTags: number;
  private tracked = new Map<string, Tracked>();
  private readonly tags = new Map<string, TagAccount>();
  private lastSampleMs: number | undefined;
  private sampleCount = 0;

  constructor(options: CpuTrackerOptions) {
    if (!(options.ticksPerSecond > 0)) throw new RangeError(`ticksPerSecond must be > 0, got ${options.ticksPerSecond}`);
    this.ticksPerSecond = options.ticksPerSecond;
    this.maxTags = options.maxTags ?? 10_000;
  }

  /**
   * Feeds one sample (every tracked process, zombies included: they hold their ticks until
   * reaped). Returns cpu_percent per pid: null for a process seen for the first time.
   */
  observe(observations: readonly CpuObservation[], monotonicMs: number): Map<number, number | null> {
    this.sampleCount++;
    const elapsedSeconds = this.lastSampleMs === undefined ? undefined : (monotonicMs - this.lastSampleMs) / 1000;
    this.lastSampleMs = monotonicMs;
    const previous = this.tracked;
    const current = new Map<string, Tracked>();
    const percents = new Map<number, number | null>();

    for (const obs of observations) {
      const key = keyOf(obs.pid, obs.startTicks);
      const before = previous.get(key);
      if (obs.tag !== undefined) this.account(obs.tag); // a tag seen with 0 ticks is a measured 0
      const entry: Tracked = { key, pid: obs.pid, ppid: obs.ppid, tag: obs.tag, ownTicks: obs.ownTicks, childTicks: obs.childTicks, credited: before?.credited ?? 0 };
      if (before) {
        if (before.tag !== entry.tag) this.moveCredit(before.tag, entry.tag, before.credited);
        const ownDelta = Math.max(0, obs.ownTicks - before.ownTicks);
        this.credit(entry, ownDelta);
        percents.set(obs.pid, elapsedSeconds && elapsedSeconds > 0 ? (ownDelta / this.ticksPerSecond / elapsedSeconds) * 100 : null);
      } else {
        this.credit(entry, obs.ownTicks + obs.childTicks);
        percents.set(obs.pid, null);
      }
      current.set(key, entry);
    }

    this.settleVanished(previous, current);
    this.tracked = current;
    this.evictTags();
    return percents;
  }

  /** CPU seconds per tag since the tag was first seen, exited processes included. */
  cpuSecondsByTag(): Map<string, TagTicks> {
    const result = new Map<string, TagTicks>();
    for (const [tag, account] of this.tags) {
      result.set(tag, { cpuSeconds: account.totalTicks / this.ticksPerSecond, exitedCpuSeconds: account.exitedTicks / this.ticksPerSecond });
    }
    return result;
  }

  /** Drops a tag's account (e.g. once the job's ledger has been written). Live processes re-create it. */
  forgetTag(tag: string): void {
    this.tags.delete(tag);
  }

  /** Rules 3 and 4 of the header comment. */
  private settleVanished(previous: Map<string, Tracked>, current: Map<string, Tracked>): void {
    const previousByPid = new Map<number, Tracked>();
    for (const entry of previous.values()) previousByPid.set(entry.pid, entry);
    const currentByPid = new Map<number, Tracked>();
    for (const entry of current.values()) currentByPid.set(entry.pid, entry);

    // Per surviving reaper: the inclusive ticks of vanished tracked descendants, and their tags.
    const reaped = new Map<string, { ticks: number; tags: Set<string | undefined> }>();
    for (const gone of previous.values()) {
      if (current.has(gone.key)) continue;
      const account = gone.tag === undefined ? undefined : this.tags.get(gone.tag);
      if (account) account.exitedTicks += gone.credited;
      const reaper = this.survivingAncestor(gone, previousByPid, currentByPid, current);
      if (!reaper) continue;
      const bucket = reaped.get(reaper.key) ?? { ticks: 0, tags: new Set() };
      bucket.ticks += gone.ownTicks + gone.childTicks;
      bucket.tags.add(gone.tag);
      reaped.set(reaper.key, bucket);
    }

    for (const entry of current.values()) {
      const before = previous.get(entry.key);
      if (!before) continue;
      const growth = entry.childTicks - before.childTicks;
      if (growth <= 0) continue;
      const bucket = reaped.get(entry.key);
      const rest = growth - (bucket?.ticks ?? 0);
      if (rest <= 0) continue;
      const sharedTag = bucket && bucket.tags.size === 1 ? [...bucket.tags][0] : entry.tag;
      this.creditExited(sharedTag, rest);
    }
  }

  /** Nearest ancestor (by last known ppids, through other vanished processes) still alive and tracked. */
  private survivingAncestor(gone: Tracked, previousByPid: Map<number, Tracked>, currentByPid: Map<number, Tracked>, current: Map<string, Tracked>): Tracked | undefined {
    let ppid = gone.ppid;
    for (let hops = 0; hops < previousByPid.size + 1; hops++) {
      const parentBefore = previousByPid.get(ppid);
      if (!parentBefore) return undefined; // the parent was never tracked: nothing to reconcile against
      if (current.has(parentBefore.key)) return currentByPid.get(ppid);
      ppid = parentBefore.ppid;
    }
    return undefined;
  }

  /** Rules 1 and 2: ticks used by a live process. */
  private credit(entry: Tracked, ticks: number): void {
    if (ticks <= 0) return;
    entry.credited += ticks;
    if (entry.tag !== undefined) this.account(entry.tag).totalTicks += ticks;
  }

  private creditExited(tag: string | undefined, ticks: number): void {
    if (tag === undefined) return;
    const account = this.account(tag);
    account.totalTicks += ticks;
    account.exitedTicks += ticks;
  }

  private moveCredit(from: string | undefined, to: string | undefined, ticks: number): void {
    if (from !== undefined) {
      const account = this.tags.get(from);
      if (account) account.totalTicks = Math.max(0, account.totalTicks - ticks);
    }
    if (to !== undefined) this.account(to).totalTicks += ticks;
  }

  private account(tag: string): TagAccount {
    let account = this.tags.get(tag);
    if (!account) {
      account = { totalTicks: 0, exitedTicks: 0, lastUpdatedSample: this.sampleCount };
      this.tags.set(tag, account);
    }
    account.lastUpdatedSample = this.sampleCount;
    return account;
  }

  private evictTags(): void {
    if (this.tags.size <= this.maxTags) return;
    const live = new Set<string | undefined>();
    for (const entry of this.tracked.values()) live.add(entry.tag);
    const idle = [...this.tags].filter(([tag]) => !live.has(tag)).sort((a, b) => a[1].lastUpdatedSample - b[1].lastUpdatedSample);
    for (const [tag] of idle.slice(0, this.tags.size - this.maxTags)) this.tags.delete(tag);
  }
}
