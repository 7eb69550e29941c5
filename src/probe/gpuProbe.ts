/**
 * GPU probe through `nvidia-smi` (a subprocess, so async). No GPU, no nvidia-smi, or a failing
 * one means "no GPUs": one log line, then no retry for `retryAfterMs` (no error loop, no
 * subprocess every sample on a machine that has no GPU). The failure is logged again only when
 * its reason changes; a recovery is logged once too.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import type { GpuMetric } from './types.js';

export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu',
  '--format=csv,noheader,nounits',
];

/** GPU memory per process (compute apps): who holds the VRAM. */
/** How many of its own runs' pids the probe remembers (two per sample at most). */
const RECENT_CHILDREN = 8;

export const NVIDIA_SMI_APPS_ARGS = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];

/** `pid, used_memory` lines → pid → MB; unknown amounts and junk lines are skipped. */
export function parseComputeApps(output: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const line of output.split('\n')) {
    const [pidText, memText] = line.split(',');
    const pid = Number(pidText?.trim());
    const mb = metric(memText);
    if (!Number.isInteger(pid) || pid <= 0 || pidText!.trim() === '' || mb === null) continue;
    byPid.set(pid, (byPid.get(pid) ?? 0) + mb); // a process on two GPUs appears twice
  }
  return byPid;
}

export interface GpuProbeOptions {
  /** Program to run, looked up on PATH (of `env` when given). */
  command?: string;
  /** Environment of the subprocess (tests put a fake nvidia-smi first on its PATH). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  retryAfterMs?: number;
  log?: (message: string) => void;
  now?: () => number;
}

/** `[N/A]`, `[Not Supported]` and other non-numbers are unknown (null), not zero. */
function metric(text: string | undefined): number | null {
  if (text === undefined) return null;
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('[')) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

/**
 * Parses `index, name, utilization, memory.used, memory.total, temperature` lines. The name sits
 * between the index and the four metrics, so a comma inside it does not shift the numbers.
 * Lines without an integer index or with too few fields are skipped.
 */
export function parseNvidiaSmiCsv(output: string): GpuMetric[] {
  const gpus: GpuMetric[] = [];
  for (const line of output.split('\n')) {
    const fields = line.split(',');
    if (fields.length < 6) continue;
    const index = Number(fields[0]!.trim());
    if (!Number.isInteger(index) || index < 0 || fields[0]!.trim() === '') continue;
    const [utilization, used, total, temperature] = fields.slice(-4);
    gpus.push({
      index,
      name: fields.slice(1, -4).join(',').trim(),
      utilization_pct: metric(utilization),
      memory_used_mb: metric(used),
      memory_total_mb: metric(total),
      temperature_c: metric(temperature),
    });
  }
  return gpus;
}

export class GpuProbe {
  private readonly command: string;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly log: (message: string) => void;
  private readonly now: () => number;
  private retryAt = 0;
  private lastFailure: string | undefined;
  private inFlight: Promise<GpuMetric[]> | undefined;
  private appsFailure: string | undefined;
  private appsRetryAt = 0;
  private readonly children: number[] = [];

  constructor(options: GpuProbeOptions = {}) {
    this.command = options.command ?? 'nvidia-smi';
    this.env = options.env;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retryAfterMs = options.retryAfterMs ?? 60_000;
    this.log = options.log ?? ((message) => console.warn(message));
    this.now = options.now ?? Date.now;
  }

  /** Whether the last query failed (and GPUs are reported as none until a retry succeeds). */
  get failing(): boolean {
    return this.lastFailure !== undefined;
  }

  /** The GPUs, or [] when there are none or the probe fails. Never rejects. */
  query(): Promise<GpuMetric[]> {
    if (this.now() < this.retryAt) return Promise.resolve([]);
    // Overlapping callers share one subprocess rather than stacking them up.
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * GPU memory per pid. Asked only after query() found GPUs; a failure here (older drivers
   * lack the query) means "not known", logged once, tried again after the same back-off as the
   * GPU list, and does not affect the GPU list.
   */
  async queryProcesses(): Promise<Map<number, number>> {
    if (this.now() < this.appsRetryAt) return new Map();
    const { error, stdout } = await this.exec(NVIDIA_SMI_APPS_ARGS);
    if (error) {
      const reason = `per-process query failed: ${firstLine(error.message)}`;
      if (reason !== this.appsFailure) this.log(`gpu probe: ${this.command} ${reason}; GPU memory per process unknown, next try in ${Math.round(this.retryAfterMs / 1000)} s`);
      this.appsFailure = reason;
      this.appsRetryAt = this.now() + this.retryAfterMs;
      return new Map();
    }
    this.appsFailure = undefined;
    return parseComputeApps(stdout);
  }

  /**
   * Pids of the probe's latest nvidia-smi runs, finished ones included (a sample can list one
   * that has exited by the time the sample is used): the conductor's children, not a job's.
   */
  get childPids(): readonly number[] {
    return this.children;
  }

  private async run(): Promise<GpuMetric[]> {
    const { error, stdout } = await this.exec(NVIDIA_SMI_ARGS);
    if (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found on PATH' : error.killed ? `timed out after ${this.timeoutMs} ms` : `failed: ${firstLine(error.message)}`;
      return this.fail(reason);
    }
    const gpus = parseNvidiaSmiCsv(stdout);
    if (gpus.length === 0 && stdout.trim() !== '') {
      return this.fail(`printed unparseable output: ${JSON.stringify(firstLine(stdout).slice(0, 80))}`);
    }
    if (this.lastFailure !== undefined) this.log(`gpu probe: ${this.command} works again (${gpus.length} GPU(s))`);
    this.lastFailure = undefined;
    return gpus;
  }

  /** One nvidia-smi run; never rejects. */
  private exec(args: readonly string[]): Promise<{ error: ExecFileException | null; stdout: string }> {
    return new Promise((resolve) => {
      const child = execFile(
        this.command,
        args,
        { env: this.env, timeout: this.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, encoding: 'utf8' },
        (error, stdout) => resolve({ error, stdout }),
      );
      if (child.pid !== undefined) {
        this.children.push(child.pid);
        if (this.children.length > RECENT_CHILDREN) this.children.shift();
      }
    });
  }

  private fail(reason: string): GpuMetric[] {
    if (reason !== this.lastFailure) {
      this.log(`gpu probe: ${this.command} ${reason}; reporting no GPUs, next try in ${Math.round(this.retryAfterMs / 1000)} s`);
    }
    this.lastFailure = reason;
    this.retryAt = this.now() + this.retryAfterMs;
    return [];
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
