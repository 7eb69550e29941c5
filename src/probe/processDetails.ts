/**
 * Command lines and open-fd counts, the per-process reads that `stat` does not give.
 *
 * Counting fds (a readdir of /proc/<pid>/fd) is the costly part of a sample, so it is spread:
 * each sample refreshes at most `refreshPerSample` processes — never-counted ones first, then
 * the longest unrefreshed — and the others keep their last count. The command line is read
 * when a process is first seen, when its `comm` changes (an exec), and on its refresh turn.
 * Memory is bounded by the processes alive in the last sample.
 */
import type { ProcReader, ProcStat } from './procReader.js';

interface Details {
  comm: string;
  command: string;
  commandReadAt: number;
  openFds: number | null;
  /** Sample number of the last fd count; -1 = never counted. */
  refreshedAt: number;
}

export interface ProcessDetailsOptions {
  /** Max processes whose fds are counted per sample; Infinity counts all every sample. */
  refreshPerSample: number;
  commandMaxChars: number;
}

const keyOf = (stat: ProcStat): string => `${stat.pid}:${stat.startTicks}`;

export class ProcessDetails {
  private details = new Map<string, Details>();
  private sampleNumber = 0;

  constructor(
    private readonly reader: ProcReader,
    private readonly options: ProcessDetailsOptions,
  ) {
    if (!(options.refreshPerSample >= 0)) throw new RangeError(`refreshPerSample must be >= 0, got ${options.refreshPerSample}`);
  }

  /** Brings the cache up to date with the processes of this sample, as steps: yields after each /proc read (command line, fd count). */
  *updateSteps(stats: readonly ProcStat[]): Generator<void, void> {
    this.sampleNumber++;
    const next = new Map<string, Details>();
    for (const stat of stats) {
      const key = keyOf(stat);
      let entry = this.details.get(key);
      if (!entry || entry.comm !== stat.comm) {
        entry = { comm: stat.comm, command: this.commandOf(stat), commandReadAt: this.sampleNumber, openFds: entry?.openFds ?? null, refreshedAt: entry?.refreshedAt ?? -1 };
        yield;
      }
      next.set(key, entry);
    }
    this.details = next;

    const byStaleness = stats
      .filter((stat) => stat.state !== 'Z') // a zombie has no fds and no argv left
      .map((stat) => ({ stat, entry: next.get(keyOf(stat))! }))
      .sort((a, b) => a.entry.refreshedAt - b.entry.refreshedAt);
    const budget = Math.min(byStaleness.length, this.options.refreshPerSample);
    for (let i = 0; i < budget; i++) {
      const { stat, entry } = byStaleness[i]!;
      entry.openFds = this.reader.countOpenFds(stat.pid) ?? null;
      if (entry.commandReadAt !== this.sampleNumber) entry.command = this.commandOf(stat);
      entry.refreshedAt = this.sampleNumber;
      yield;
    }
  }

  command(stat: ProcStat): string {
    return this.details.get(keyOf(stat))?.command ?? stat.comm;
  }

  openFds(stat: ProcStat): number | null {
    return stat.state === 'Z' ? 0 : (this.details.get(keyOf(stat))?.openFds ?? null);
  }

  private commandOf(stat: ProcStat): string {
    if (stat.state === 'Z') return stat.comm;
    return this.reader.readCommandLine(stat.pid, this.options.commandMaxChars) ?? stat.comm;
  }
}
