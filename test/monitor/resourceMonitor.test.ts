/**
 * The resource monitor driven by a scripted check (a fake probe: usage is dictated by the
 * test) — pressure events, backpressure, every fresh reading handed to the shed policy,
 * degraded mode.
 */
import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/events/types.js';
import { DEFAULT_MONITOR_SETTINGS, ResourceMonitor, type CheckReading } from '../../src/monitor/resourceMonitor.js';
import type { ResourceCheck } from '../../src/monitor/resourceMonitorMachine.js';

function scripted(steps: Array<ResourceCheck | Error>) {
  let i = 0;
  const events: NewEvent[] = [];
  const readings: CheckReading[] = [];
  let waiters: Array<() => void> = [];
  const monitor = new ResourceMonitor({
    settings: { ...DEFAULT_MONITOR_SETTINGS, max_memory_mb: 1000, max_processes: 100, interval_seconds: 0.005, degraded_after_failures: 3, shed_cooldown_seconds: 0 },
    check: async () => {
      const step = steps[Math.min(i, steps.length - 1)]!;
      i++;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
      if (step instanceof Error) throw step;
      return step;
    },
    record: (e) => events.push(e),
    afterCheck: async (reading) => {
      readings.push(reading);
    },
  });
  const checks = (n: number) =>
    new Promise<void>((resolve) => {
      const poll = () => (i >= n ? resolve() : waiters.push(poll));
      poll();
    });
  return { monitor, events, readings, checks };
}

const use = (memory_mb: number, processes = 1): ResourceCheck => ({ memory_mb, processes, zombie_pids: [] });

describe('ResourceMonitor', () => {
  it('publishes pressure changes, refuses work above warn and hands every reading to the shed policy', async () => {
    const { monitor, events, readings, checks } = scripted([use(100), use(850), use(850), use(960), use(100)]);
    monitor.start();
    await checks(3);
    expect(monitor.acceptingWork()).toMatchObject({ accepting: false });
    expect(monitor.acceptingWork().reason).toMatch(/pressure high: memory 85%/);
    await checks(6);
    monitor.stop();
    const levels = events.filter((e) => e.type === 'monitor.pressure_changed').map((e) => e.data!.level);
    expect(levels).toEqual(['high', 'critical', 'none']);
    // One reading per successful check, with the level it led to (the policy decides what to shed).
    expect(readings.slice(0, 5).map((r) => [r.level, r.memory_mb])).toEqual([
      ['none', 100], ['high', 850], ['high', 850], ['critical', 960], ['none', 100],
    ]);
    expect(readings[3]).toMatchObject({ memory_percent: 96, processes: 1, process_percent: 1, settings: { hard_percent: 95 } });
    expect(monitor.acceptingWork().accepting).toBe(true);
  });

  it('goes degraded (fail-closed) after repeated probe failures and recovers', async () => {
    const fail = new Error('cannot read /proc');
    const { monitor, events, checks } = scripted([use(100), fail, fail, fail, fail, use(100)]);
    monitor.start();
    await checks(5);
    expect(monitor.status()).toMatchObject({ degraded: true, accepting_work: false });
    expect(monitor.acceptingWork().reason).toMatch(/degraded \(cannot read \/proc\)/);
    await checks(8);
    monitor.stop();
    const types = events.map((e) => e.type);
    expect(types).toContain('monitor.degraded');
    expect(types.indexOf('monitor.recovered')).toBeGreaterThan(types.indexOf('monitor.degraded'));
    expect(monitor.status().degraded).toBe(false);
  });
});
