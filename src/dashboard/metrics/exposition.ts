/**
 * The Prometheus side of /metrics, through prom-client (it owns the text format: escaping,
 * HELP/TYPE lines, value formatting).
 *
 * Two registries, neither of them prom-client's global one (a library that imports the
 * conductor must not find our series there, nor we its):
 * - the process registry: `process_*` and `nodejs_*` defaults of the process serving /metrics
 *   (the conductor, or `mzt dashboard serve`), made once per process — collectDefaultMetrics
 *   starts an event-loop delay monitor and a GC observer that live as long as the process, so a
 *   dashboard restart (config reload) must not start a second set;
 * - a fresh registry for every scrape, filled from the conductor's answers of that moment. A
 *   series exists only while its source does: a cleared job's series go with it, by construction
 *   (no reset-or-remove bookkeeping, no stale label sets between scrapes).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Event-loop delay sampling, in ms. prom-client's default (10 ms) wakes an idle conductor 100
 * times a second; 50 ms keeps nodejs_eventloop_lag_* meaningful at a fifth of the wake-ups
 * (idle CPU measured in BENCHMARKS.md, "/metrics").
 */
export const EVENT_LOOP_PRECISION_MS = 50;

let processRegistry: Registry | undefined;

/** The `process_*`/`nodejs_*` registry of this process; made (and its monitors started) on first use. */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_PRECISION_MS });
    // These three are gauges named `_total`, which `promtool check metrics` rejects; the same
    // figures stay available per type (sum(nodejs_active_handles) is the total).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      processRegistry.removeSingleMetric(name);
    }
  }
  return processRegistry;
}

export type Labels = Record<string, string>;
type Sample = readonly [Labels, number | null | undefined];

/** One scrape's series: declared with their HELP text, filled, then rendered once. */
export class Scrape {
  readonly registry = new Registry();

  /** Declared only with at least one real value: prom-client would print 0 for an unset unlabelled one. */
  gauge(name: string, help: string, samples: readonly Sample[]): void {
    const real = samples.filter((s): s is readonly [Labels, number] => usable(s[1]));
    if (real.length === 0) return;
    const g = new Gauge({ name, help, labelNames: Object.keys(real[0]![0]), registers: [this.registry] });
    for (const [labels, value] of real) g.set(labels, value);
  }

  /**
   * A counter whose current total is known (the conductor counts; we only report): a fresh
   * Counter incremented once by the total is exactly that total, and prom-client refuses a
   * negative one — a total that went down would be a bug worth an error, not a silent reset.
   */
  counter(name: string, help: string, samples: readonly Sample[]): void {
    const real = samples.filter((s): s is readonly [Labels, number] => usable(s[1]));
    if (real.length === 0) return;
    const c = new Counter({ name, help, labelNames: Object.keys(real[0]![0]), registers: [this.registry] });
    for (const [labels, value] of real) c.inc(labels, value);
  }

  /** This scrape's series, then the process's defaults (different names, so one exposition). */
  async text(withProcess: boolean): Promise<string> {
    const own = await this.registry.metrics();
    return withProcess ? `${own}${await processMetrics().metrics()}` : own;
  }
}

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

function usable(value: number | null | undefined): value is number {
  return value !== null && value !== undefined && Number.isFinite(value);
}
