/**
 * The resource monitor machine driven directly, time on an XState SimulatedClock: the interval
 * is the clock's, the check's time is data, and the machine emits what happened itself.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { resourceMonitorMachine, type MonitorEmitted, type TimedCheck } from '../../src/monitor/resourceMonitorMachine.js';
import { DEFAULT_MONITOR_SETTINGS } from '../../src/monitor/resourceMonitor.js';

/** Lets the check's promise settle. */
const settle = () => new Promise((r) => setTimeout(r, 0));

function drive(steps: Array<Partial<TimedCheck> | Error>) {
  const clock = new SimulatedClock();
  let i = 0;
  const machine = resourceMonitorMachine.provide({
    actors: {
      check: fromPromise(async () => {
        const step = steps[Math.min(i++, steps.length - 1)]!;
        if (step instanceof Error) throw step;
        return { memory_mb: 0, processes: 0, zombie_pids: [], checked_at: clock.now(), ...step };
      }),
    },
  });
  const settings = { ...DEFAULT_MONITOR_SETTINGS, max_memory_mb: 1000, interval_seconds: 10, degraded_after_failures: 2 };
  const actor = createActor(machine, { input: { settings }, clock });
  const emitted: MonitorEmitted[] = [];
  for (const type of ['pressure_changed', 'degraded', 'recovered', 'checked'] as const) actor.on(type, (e) => emitted.push(e));
  actor.start();
  return { actor, clock, emitted, checks: () => i };
}

describe('resourceMonitorMachine on a simulated clock', () => {
  it('checks once per interval of the clock, not of the wall', async () => {
    const { clock, checks, actor } = drive([{ memory_mb: 100 }]);
    await settle();
    expect(checks()).toBe(0);
    clock.increment(9_999);
    await settle();
    expect(checks()).toBe(0);
    clock.increment(1);
    await settle();
    expect(checks()).toBe(1);
    expect(actor.getSnapshot().context.lastCheckAt).toBe(10_000); // the check's time, from the clock
    clock.increment(10_000);
    await settle();
    expect(checks()).toBe(2);
  });

  it('emits pressure changes (not on the first check), a reading per check, degraded once and recovered', async () => {
    const fail = new Error('probe down');
    const { clock, emitted } = drive([{ memory_mb: 100 }, { memory_mb: 960 }, fail, fail, fail, { memory_mb: 100 }]);
    for (let n = 0; n < 6; n++) {
      clock.increment(10_000);
      await settle();
    }
    expect(emitted.map((e) => e.type)).toEqual(['checked', 'pressure_changed', 'checked', 'degraded', 'recovered', 'pressure_changed', 'checked']);
    expect(emitted[1]).toMatchObject({ type: 'pressure_changed', level: 'critical', previous: 'none', memory_mb: 960, memory_percent: 96 });
    expect(emitted[3]).toEqual({ type: 'degraded', consecutive_failures: 2, error: 'probe down' });
    expect(emitted[4]).toEqual({ type: 'recovered', after_failures: 3 });
  });
});
