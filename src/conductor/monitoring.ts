/**
 * Wires the watchers: the profiler samples the process tree (tagged by job/sheet) and
 * publishes snapshots; the resource monitor reads usage from those samples (no second
 * probe), computes pressure and applies backpressure and the hard-limit policy.
 */
import { filter, map } from '../shared/rx.js';
import type { JobManager } from '../actors/jobManager.js';
import { encodeEphemeral, type EventBus } from '../events/bus.js';
import type { EventStore } from '../events/store.js';
import type { NewEvent } from '../events/types.js';
import { GpuProbe } from '../probe/gpuProbe.js';
import { gitChildPids } from '../actors/gitContext.js';
import { SystemProbe } from '../probe/systemProbe.js';
import type { ProcessTag, TagCpu } from '../probe/types.js';
import type { ProcIdentity } from '../probe/sheetMarker.js';
import { Profiler } from '../monitor/profiler.js';
import { JobCostAggregator } from '../monitor/jobCosts.js';
import { ResourceMonitor } from '../monitor/resourceMonitor.js';
import { Supervisor } from '../monitor/supervisor.js';
import { AnomalyTracker } from '../monitor/anomalies.js';
import { LifecycleTracker } from '../monitor/lifecycle.js';
import type { MonitorSettings } from '../monitor/resourceMonitorMachine.js';
import type { ProfilerSettings } from '../monitor/profilerMachine.js';
import type { SystemSnapshot } from '../monitor/snapshot.js';
import type { ConductorConfig } from './config.js';
import { MonitorStorage } from '../storage/monitorStorage.js';
import { Shedder } from './shedding.js';
import { JsonlWriter } from '../storage/jsonl.js';
import type { LogFn } from '../log/logger.js';

/** Taken when a snapshot is published, for the sinks that run after it. */
export interface SampleContext {
  /** CPU per job/sheet tag from the same sample (exited descendants included). */
  tagCpu: TagCpu[];
  /** Pids that are not a job's descendants to observe: the conductor, sheet leaders, its nvidia-smi. */
  leaders: ReadonlySet<number>;
}

export type SnapshotSink = (snapshot: SystemSnapshot, context: SampleContext) => void;

export interface Monitoring {
  storage: MonitorStorage;
  jsonl: JsonlWriter;
  readonly profiler: Profiler;
  readonly monitor: ResourceMonitor;
  /** Restarts per supervised actor in the last ten minutes. */
  restarts(): Record<string, number>;
  /** Extra consumers of every snapshot (storage, JSONL). */
  sinks: SnapshotSink[];
  applyConfig(config: ConductorConfig): void;
  /** Pauses the resource monitor holds (jobs it paused for pressure or their own limits). */
  readonly shedder: Shedder;
  /** Live processes the probe has seen with this job/sheet tag (escaped ones included). */
  knownProcesses(tag: ProcessTag): ProcIdentity[];
  stop(): void;
}

export function monitorSettings(c: ConductorConfig): MonitorSettings {
  return {
    max_memory_mb: c.max_memory_mb,
    max_processes: c.max_processes,
    warn_percent: c.warn_percent,
    hard_percent: c.hard_percent,
    hysteresis_percent: 5,
    interval_seconds: c.monitor_interval_seconds,
    degraded_after_failures: 5,
    shed_cooldown_seconds: Math.max(1, c.monitor_interval_seconds),
  };
}

export function profilerSettings(c: ConductorConfig): ProfilerSettings {
  return { interval_seconds: c.profiler_interval_seconds, max_interval_seconds: 60, budget_percent: c.profiler_budget_percent };
}

export function startMonitoring(deps: {
  config: ConductorConfig;
  store: EventStore;
  bus: EventBus;
  jobs: () => JobManager;
  startedAtMs: number;
  log: LogFn;
  monitorDb: string;
  monitorJsonl: string;
}): Monitoring {
  const record = (e: NewEvent) => {
    deps.store.append(e).catch((err: Error) => deps.log(`could not record ${e.type}: ${err.message}`, 'error'));
  };
  const sinks: SnapshotSink[] = [];
  let firstSample = true;
  let lastSinkError: string | undefined;
  let config = deps.config;
  let stopped = false;

  const supervisor = new Supervisor({ record, log: deps.log });
  let monitor: ResourceMonitor;
  let profiler: Profiler;
  // The shed policy (monitor/shedPolicy.ts): blame by cost, pause first, cancel after the grace.
  const shedder = new Shedder({
    jobs: deps.jobs,
    activeJobs: () => deps.store.activeJobs(),
    costs: () => profiler.latest()?.job_costs,
    record,
    log: deps.log,
    graceSeconds: () => config.shed_pause_grace_seconds,
  });
  const newMonitor = (onFailure: (err: unknown) => void) => new ResourceMonitor({
    onFailure,
    settings: monitorSettings(config),
    record,
    log: deps.log,
    check: async () => {
      const sample = profiler.latestProbe();
      if (!sample) throw new Error('no process sample yet');
      if (!sample.ok) throw new Error(`probe failed: ${sample.error}`);
      const ageSeconds = Date.now() / 1000 - sample.timestamp;
      if (ageSeconds > Math.max(3 * profiler.intervalSeconds, 2 * config.monitor_interval_seconds) + 1) {
        throw new Error(`the latest process sample is ${ageSeconds.toFixed(1)} s old`);
      }
      let rss = 0;
      for (const p of sample.processes) rss += p.rss_mb;
      return { memory_mb: rss, processes: Math.max(0, sample.processes.length - 1), zombie_pids: sample.zombie_pids };
    },
    afterCheck: (reading) => shedder.afterCheck(reading),
  });

  // Sampling runs on this thread, its synchronous /proc reads spread over event-loop turns
  // (at most ~0.5 ms each: a request that arrives during one waits for it; with 2 ms slices a
  // whole sample was one stretch and showed in the paced latency p99, BENCHMARKS.md): a worker
  // thread for it cost ~9 MB of idle RSS (BENCHMARKS.md).
  // MZT_PROC_ROOT points the probe at another /proc: how tests break it under a live conductor.
  const procRoot = process.env.MZT_PROC_ROOT || undefined;
  const gpuProbe = new GpuProbe({ log: deps.log });
  // Sheets' environment markers tag processes that escaped their group (and session).
  const probe = new SystemProbe({ gpuProbe, sliceMs: 0.5, procRoot, markerTag: (value) => deps.jobs().sheetOfMarker(value) });
  // Peaks of a job seen again (live restore, retry) start from the ledger's.
  const costs = new JobCostAggregator((jobId) => {
    const rows = storage.jobCosts(jobId);
    if (rows.length === 0) return undefined;
    const sheets = new Map<number, number>();
    for (const r of rows) if (r.sheet_num !== null) sheets.set(r.sheet_num, r.peak_rss_mb);
    return { job: Math.max(...rows.map((r) => r.peak_rss_mb)), sheets };
  });
  const newProfiler = (onFailure: (err: unknown) => void) => new Profiler({
    onFailure,
    costs,
    probe,
    rootPid: process.pid,
    settings: profilerSettings(config),
    startedAtMs: deps.startedAtMs,
    record,
    log: deps.log,
    tags: () => {
      const tags = new Map<number, ProcessTag>();
      for (const p of deps.jobs().activeProcesses()) tags.set(p.pid, { job_id: p.job_id, sheet_num: p.sheet_num });
      return tags;
    },
    state: () => {
      const jobs = deps.jobs();
      return {
        pressure_level: monitor.status().pressure_level,
        running_jobs: jobs.runningCount,
        active_sheets: jobs.activeSheets,
        job_progress: deps.store.activeJobs().map((j) => ({
          job_id: j.job_id,
          total_sheets: j.total_sheets,
          last_completed_sheet: j.completed_sheets,
          current_sheet: j.current_sheet ?? null,
          status: j.status,
        })),
      };
    },
    publish: (snapshot) => {
      if (firstSample) {
        // The monitor reads usage from samples: its first check waits for the first one.
        firstSample = false;
        monitor.checkNow();
      }
      // The ephemeral event, then each sink, one per event-loop turn (storing 200 processes takes
      // ~1 ms): the sampler shares this thread with the socket server, so no piece of a sample
      // should hold it for long. Turn 0 is the bus (encoding the snapshot), not the snapshot's
      // build: both in one turn were one more stretch in the latency tail.
      // What the sinks need besides the snapshot, taken now: they run turns later, when the
      // profiler may have sampled again and sheets may have ended.
      const latest = profiler.latestProbe();
      const context: SampleContext = {
        tagCpu: latest && latest.ok ? latest.tag_cpu : [],
        // Leaders of the sample's time too: one that ended while the sample was taken is in its
        // processes, and is no observed descendant (it was recorded as one, after its job's end).
        leaders: new Set<number>([
          process.pid,
          ...profiler.sampledLeaders(),
          ...deps.jobs().activeProcesses().map((p) => p.pid),
          ...gpuProbe.childPids,
          ...gitChildPids(),
        ]),
      };
      setImmediate(() => {
        if (stopped) return;
        contexts.set(snapshot, context);
        try {
          deps.bus.publish(encodeEphemeral('monitor.snapshot', snapshot as unknown as Record<string, unknown>));
        } catch (err) {
          reportSinkError(err);
        }
      });
    },
  });

  const reportSinkError = (err: unknown) => {
    // Once per distinct error, not once a second while a disk is full.
    const message = (err as Error).message;
    if (message !== lastSinkError) deps.log(`snapshot sink failed: ${message}`, 'warn');
    lastSinkError = message;
  };
  // The sinks follow the bus's snapshots, each on its own later turn (setImmediate): RxJS 7's
  // asapScheduler runs on microtasks (no socket I/O between sinks) and asyncScheduler's timers
  // all fire in one timers phase, so neither keeps the sinks apart the way the tail needs.
  const runSinks = ({ snapshot, context }: { snapshot: SystemSnapshot; context: SampleContext }) => {
    const runSink = (i: number) => {
      const sink = sinks[i];
      if (stopped || !sink) return;
      try {
        sink(snapshot, context);
      } catch (err) {
        reportSinkError(err);
      }
      setImmediate(runSink, i + 1);
    };
    setImmediate(runSink, 0);
  };
  // The context of each published snapshot, by the snapshot the bus event carries as its data.
  const contexts = new WeakMap<object, SampleContext>();
  const detachSinks = deps.bus.subscribeVia(
    (events$) => events$.pipe(
      filter((e) => e.event.type === 'monitor.snapshot' && contexts.has(e.event.data)),
      map((e) => ({ snapshot: e.event.data as unknown as SystemSnapshot, context: contexts.get(e.event.data)! })),
    ),
    runSinks,
  );

  // History (SQLite, with the per-job cost ledger) and monitor.jsonl for tailing: two sinks (two
  // turns), the snapshot serialized once for both.
  const storage = new MonitorStorage(deps.monitorDb);
  const jsonl = new JsonlWriter(deps.monitorJsonl, { maxBytes: 50 * 1024 * 1024, keepRotated: 2 });
  let serialized: { snapshot: SystemSnapshot; json: string } | undefined;
  sinks.push((snapshot, { tagCpu }) => {
    const json = JSON.stringify(snapshot);
    serialized = { snapshot, json };
    storage.writeSnapshot(snapshot, tagCpu, json);
  });
  sinks.push((snapshot) => {
    const json = serialized?.snapshot === snapshot ? serialized.json : JSON.stringify(snapshot);
    serialized = undefined;
    jsonl.appendJson(json);
  });
  const cleanup = () => {
    try {
      storage.cleanup({ fullResolutionHours: 24, downsampledDays: 30 });
    } catch (err) {
      deps.log(`monitor storage cleanup failed: ${(err as Error).message}`, 'warn');
    }
  };
  cleanup();
  const cleanupTimer = setInterval(cleanup, 3600_000);
  cleanupTimer.unref();

  // The jobs' own limits, from each sample's cost figures.
  sinks.push((snapshot) => shedder.afterSnapshot(snapshot.job_costs));

  // Descendants appearing/disappearing between samples, and anomalies when they begin.
  const lifecycle = new LifecycleTracker();
  const anomalies = new AnomalyTracker();
  sinks.push((snapshot, { leaders }) => {
    // Not observed: sheet leaders (the job manager reports them, with exit codes), the conductor
    // itself and its own nvidia-smi and git (job provenance) runs.
    const change = lifecycle.observe(snapshot.processes, leaders);
    const tagOf = (p: { job_id: string | null; sheet_num: number | null }) => ({
      ...(p.job_id !== null ? { job_id: p.job_id } : {}),
      ...(p.sheet_num !== null ? { sheet_num: p.sheet_num } : {}),
    });
    for (const p of change.spawned) {
      record({ type: 'process.spawn', ...tagOf(p), data: { pid: p.pid, ppid: p.ppid, command: p.command, observed: true } });
    }
    for (const p of change.exited) {
      record({ type: 'process.exit', ...tagOf(p), data: { pid: p.pid, exit_code: null, signal: null, observed: true, age_seconds: p.age_seconds } });
    }
    for (const a of anomalies.observe(snapshot)) {
      const { job_id, sheet_num, ...data } = a;
      record({ type: 'monitor.anomaly', ...tagOf({ job_id, sheet_num }), data: { ...data } });
    }
  });

  profiler = supervisor.supervise('profiler', newProfiler, (p) => (profiler = p));
  monitor = supervisor.supervise('resource_monitor', newMonitor, (m) => (monitor = m));
  return {
    get profiler() {
      return profiler;
    },
    get monitor() {
      return monitor;
    },
    restarts: () => supervisor.summary(),
    shedder,
    storage,
    jsonl,
    sinks,
    applyConfig(next) {
      config = next;
      monitor.updateSettings(monitorSettings(next));
      profiler.updateSettings(profilerSettings(next));
    },
    knownProcesses: (tag) => probe.knownProcesses(tag),
    stop() {
      stopped = true;
      detachSinks();
      supervisor.stop();
      profiler.stop();
      monitor.stop();
      clearInterval(cleanupTimer);
      storage.close();
    },
  };
}
