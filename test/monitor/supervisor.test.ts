import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/events/types.js';
import { Supervisor } from '../../src/monitor/supervisor.js';

describe('Supervisor', () => {
  it('restarts a failed actor with growing backoff and records each restart', async () => {
    const events: NewEvent[] = [];
    const supervisor = new Supervisor({ record: (e) => events.push(e), initialDelayMs: 10, maxDelayMs: 40 });
    let created = 0;
    let stopped = 0;
    let current: { fail: (e: Error) => void } | undefined;
    const replaced: number[] = [];
    supervisor.supervise(
      'worker',
      (onFailure) => {
        const id = ++created;
        const actor = { id, start: () => undefined, stop: () => void stopped++, fail: (e: Error) => onFailure(e) };
        current = actor;
        return actor;
      },
      (a) => replaced.push(a.id),
    );
    for (let i = 0; i < 3; i++) {
      const before = created;
      current!.fail(new Error(`boom ${i}`));
      current!.fail(new Error('reported twice')); // one failure, one restart
      while (created === before) await new Promise((r) => setTimeout(r, 5));
    }
    expect(created).toBe(4);
    expect(stopped).toBe(3);
    expect(replaced).toEqual([2, 3, 4]);
    const restarted = events.filter((e) => e.type === 'actor.restarted').map((e) => e.data!);
    expect(restarted.map((d) => d.delay_ms)).toEqual([10, 20, 40]);
    expect(restarted[2]).toMatchObject({ actor: 'worker', error: 'boom 2', restarts: 3 });
    expect(supervisor.summary()).toEqual({ worker: 3 });
    supervisor.stop();
  });
});
