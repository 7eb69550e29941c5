/**
 * The profiler service: at its interval it samples the conductor's process tree with the
 * /proc probe (processes tagged with the job and sheet that spawned them), builds a
 * SystemSnapshot, publishes it (ephemeral `monitor.snapshot` on the bus, and whatever sinks
 * the conductor adds: storage, JSONL), and measures its own cost. When sampling exceeds its
 * budget it widens the interval and says so with a durable `profiler.interval_widened`.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { createActor, fromPromise, type ActorRefFrom } from 'xstate';
import type { NewEvent } from '../events/types.js';
import type { SampleSource } from '../probe/types.js';
import type { ProbeResult, ProcessTag } from '../probe/types.js';
import type { PressureLevel } from './pressure.js';
import { profilerMachine, type ProfilerContext, type ProfilerSettings } from './profilerMachine.js';
import type { JobProgress, SystemSnapshot } from './snapshot.js';
import { JobCostAggregator } from './jobCosts.js';
import type { LogFn } from '../log/logger.js';

export const DEFAULT_PROFILER_SETTINGS: ProfilerSettings = {
  interval_seconds: 1,
  max_interval_seconds: 30,
  budget_percent: 5,
};

export interface ProfilerDeps {
  probe: SampleSource;
  rootPid: number;
  /** pid → job/sheet of every running sheet (process-group leaders). */
  tags(): Map<number, ProcessTag>;
  state(): { pressure_level: PressureLevel; running_jobs: number; active_sheets: number; job_progress: JobProgress[] };
  publish(snapshot: SystemSnapshot): void;
  record(event: NewEvent): void;
  settings: ProfilerSettings;
  startedAtMs: number;
  log?: LogFn;
  /** Called when the actor fails (the supervisor restarts it). */
  onFailure?: (err: unknown) => void;
  /** Per-job cost aggregation; passed in so its peaks outlive a restart of the profiler. */
  costs?: JobCostAggregator;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const LOOP_DELAY_RESOLUTION_MS = 10;

export class Profiler {
  private readonly actor: ActorRefFrom<typeof profilerMachine>;
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  private latestSnapshot: SystemSnapshot | undefined;
  private latestResult: ProbeResult | undefined;
  private sampledTags: ReadonlyMap<number, ProcessTag> = new Map();
  private stopped = false;
  private readonly costs: JobCostAggregator;

  constructor(private readonly deps: ProfilerDeps) {
    this.costs = deps.costs ?? new JobCostAggregator();
    const machine = profilerMachine.provide({ actors: { sample: fromPromise(() => this.sampleOnce()) } });
    this.actor = createActor(machine, { input: { settings: deps.settings } });
    this.actor.subscribe({ error: (err) => deps.onFailure?.(err) });
    this.actor.on('interval_widened', ({ type: _type, ...data }) => {
      const cost = round1(data.sample_cost_ms);
      deps.record({ type: 'profiler.interval_widened', data: { ...data, sample_cost_ms: cost } });
      deps.log?.(`profiler over budget (${cost} ms per sample): interval ${data.from_seconds}s → ${data.to_seconds}s`, 'warn');
    });
  }

  start(): void {
    this.loopDelay.enable();
    this.actor.start();
  }

  stop(): void {
    this.stopped = true;
    this.actor.stop();
    this.loopDelay.disable();
  }

  updateSettings(settings: ProfilerSettings): void {
    this.actor.send({ type: 'UPDATE_SETTINGS', settings });
  }

  latest(): SystemSnapshot | undefined {
    return this.latestSnapshot;
  }

  /** The last probe result, failed or not (the resource monitor reads usage from it). */
  latestProbe(): ProbeResult | undefined {
    return this.latestResult;
  }

  /** The sheet leaders the sample being published was taken with (some may have ended since). */
  sampledLeaders(): Iterable<number> {
    return this.sampledTags.keys();
  }

  get intervalSeconds(): number {
    return this.actor.getSnapshot().context.interval_seconds;
  }

  private async sampleOnce(): Promise<{ ok: boolean; cost_ms: number }> {
    const cpuBefore = process.cpuUsage();
    const tags = this.deps.tags();
    const result = await this.deps.probe.sample(this.deps.rootPid, tags);
    this.sampledTags = tags;
    const cpu = process.cpuUsage(cpuBefore);
    // A probe that measures its own synchronous stretches says what it cost; process CPU over
    // the sample would also count whatever else ran while a spread-out sample waited for turns.
    const cost_ms = result.ok && typeof result.busy_ms === 'number' ? result.busy_ms : (cpu.user + cpu.system) / 1000;
    this.latestResult = result;
    if (!result.ok) return { ok: false, cost_ms };
    // Building and publishing the snapshot gets its own event-loop turn, not the end of the
    // sample's last synchronous stretch (together they blocked the loop for up to ~7 ms).
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.stopped) return { ok: true, cost_ms }; // stopped meanwhile: its sinks may be closed
    const state = this.deps.state();
    // The histogram records the time between its timer's runs (every LOOP_DELAY_RESOLUTION_MS):
    // the delay is what exceeds the resolution.
    const p99 = Math.max(0, this.loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS);
    const max = Math.max(0, this.loopDelay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS);
    this.loopDelay.reset();
    const snapshot: SystemSnapshot = {
      timestamp: result.timestamp,
      daemon_pid: this.deps.rootPid,
      system_memory_total_mb: result.system_memory_total_mb,
      system_memory_available_mb: result.system_memory_available_mb,
      system_memory_used_mb: result.system_memory_used_mb,
      daemon_rss_mb: result.root.rss_mb,
      daemon_cpu_percent: result.root.cpu_percent,
      load_avg_1: result.load_avg_1,
      load_avg_5: result.load_avg_5,
      load_avg_15: result.load_avg_15,
      cpu_count: result.cpu_count,
      system_cpu_percent: result.system_cpu_percent,
      processes: result.processes,
      gpus: result.gpus,
      pressure_level: state.pressure_level,
      running_jobs: state.running_jobs,
      active_sheets: state.active_sheets,
      zombie_count: result.zombie_count,
      zombie_pids: result.zombie_pids,
      job_progress: state.job_progress,
      conductor_uptime_seconds: round1((Date.now() - this.deps.startedAtMs) / 1000),
      job_costs: this.costs.aggregate(
        result.processes,
        result.tag_cpu,
        state.job_progress.filter((j) => j.status === 'running' || j.status === 'paused').map((j) => j.job_id),
      ),
      conductor: {
        cpu_percent: result.root.cpu_percent,
        rss_mb: result.root.rss_mb,
        sample_cost_ms: round1(cost_ms),
        sample_duration_ms: round1(result.sample_duration_ms),
        sample_blocking_ms: result.blocking_ms === null ? null : round1(result.blocking_ms),
        event_loop_delay_p99_ms: Number.isFinite(p99) ? round1(p99) : 0,
        event_loop_delay_max_ms: Number.isFinite(max) ? round1(max) : 0,
        interval_seconds: this.intervalSeconds,
      },
    };
    this.latestSnapshot = snapshot;
    try {
      this.deps.publish(snapshot);
    } catch (err) {
      this.deps.log?.(`publishing a snapshot failed: ${(err as Error).message}`, 'error');
    }
    return { ok: true, cost_ms };
  }
}
