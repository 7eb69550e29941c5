/**
 * The shed policy carried out (conductor/shedding.ts) with a scripted job manager: one
 * none_running event per episode, a cooldown between sheds, a person's pause never taken
 * over, and a pause that cannot happen records nothing.
 */
import { describe, expect, it } from 'vitest';
import { Shedder } from '../../src/conductor/shedding.js';
import type { NewEvent } from '../../src/events/types.js';
import type { CheckReading } from '../../src/monitor/resourceMonitor.js';
import { DEFAULT_MONITOR_SETTINGS } from '../../src/monitor/resourceMonitor.js';
import type { JobCost } from '../../src/monitor/snapshot.js';

type State = 'running' | 'paused';

function fakeJobs(states: Record<string, State>) {
  const by = new Map<string, string>();
  const calls: string[] = [];
  return {
    calls,
    states,
    stateOf: (id: string) => states[id],
    pauser: (id: string) => (states[id] === 'paused' ? by.get(id) : undefined),
    pause(id: string, who: string) {
      if (states[id] !== 'running') throw new Error(`cannot pause ${id}`);
      states[id] = 'paused';
      by.set(id, who);
      calls.push(`pause ${id} ${who}`);
    },
    resume(id: string, who: string) {
      states[id] = 'running';
      by.delete(id);
      calls.push(`resume ${id} ${who}`);
    },
    async cancel(id: string) {
      delete states[id];
      calls.push(`cancel ${id}`);
      return { job_id: id, status: 'cancelled' };
    },
    jobLimits: () => new Map(),
  };
}

const cost = (job_id: string, processes: number): JobCost => ({ job_id, processes, rss_mb: 1, cpu_percent: 0, cpu_seconds: 0, peak_rss_mb: 1, gpu_memory_mb: null, sheets: [] });
const reading = (level: CheckReading['level'], process_percent: number, cooldown = 0): CheckReading => ({
  level, memory_mb: 100, processes: Math.round(process_percent / 5), memory_percent: 1, process_percent,
  settings: { ...DEFAULT_MONITOR_SETTINGS, max_processes: 20, shed_cooldown_seconds: cooldown },
});

function setup(states: Record<string, State>, costs: JobCost[], grace = 30) {
  const jobs = fakeJobs(states);
  const events: NewEvent[] = [];
  const shedder = new Shedder({
    jobs: () => jobs as any,
    activeJobs: () => Object.keys(states).map((job_id, i) => ({ job_id, started_at: i, submitted_at: i }) as any),
    costs: () => costs,
    record: (e) => events.push(e),
    log: () => undefined,
    graceSeconds: () => grace,
  });
  return { jobs, events, shedder };
}

describe('Shedder', () => {
  it('records none_running once per episode at the hard limit', async () => {
    const { shedder, events } = setup({ idle: 'running' }, [cost('idle', 0)]);
    for (let i = 0; i < 3; i++) await shedder.afterCheck(reading('critical', 120));
    await shedder.afterCheck(reading('medium', 60));
    await shedder.afterCheck(reading('critical', 120));
    expect(events.map((e) => e.data!.action)).toEqual(['none_running', 'none_running']);
    expect(events[0]).toMatchObject({ data: { job_id: null, measure: 'processes', reason: 'no running job contributes to the crossed measure' } });
  });

  it('one shed per cooldown: no second pause while the first is within it', async () => {
    const { shedder, jobs } = setup({ a: 'running', b: 'running' }, [cost('a', 10), cost('b', 5)], 0);
    await shedder.afterCheck(reading('critical', 120, 60));
    // grace 0: the pause is over at once, but the cooldown (60 s) holds the cancel back
    await shedder.afterCheck(reading('critical', 120, 60));
    expect(jobs.calls).toEqual(['pause a resource_monitor']);
  });

  it("never resumes or cancels a job a person paused, and forgets its own pause once a person takes over", async () => {
    const { shedder, jobs, events } = setup({ mine: 'running', theirs: 'paused' }, [cost('mine', 10), cost('theirs', 30)], 0);
    await shedder.afterCheck(reading('critical', 120)); // theirs (30) is paused by a person: not a candidate
    expect(jobs.calls).toEqual(['pause mine resource_monitor']);
    expect(shedder.held().map((p) => p.job_id)).toEqual(['mine']);
    // a person resumes and pauses it again: the pause is theirs now
    jobs.resume('mine', 'client');
    jobs.pause('mine', 'client');
    await shedder.afterCheck(reading('none', 10));
    await shedder.afterCheck(reading('critical', 120));
    expect(shedder.held()).toEqual([]);
    expect(jobs.calls.filter((c) => c.endsWith('resource_monitor'))).toEqual(['pause mine resource_monitor']);
    expect(events.filter((e) => e.type === 'monitor.job_resumed')).toEqual([]);
  });

  it('a job that cannot be paused now (between sheets) gets no event', async () => {
    const { shedder, jobs, events } = setup({ a: 'running' }, [cost('a', 10)]);
    jobs.pause = () => {
      throw new Error('cannot pause job "a": it is running, not running (no sheet)');
    };
    await shedder.afterCheck(reading('critical', 120));
    expect(events).toEqual([]);
    expect(shedder.held()).toEqual([]);
  });
});
