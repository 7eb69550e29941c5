/** Restart policies: defaults, the delay formula with its cap, and every bound a client can hit. */
import { describe, expect, it } from 'vitest';
import { backoffSeconds, DEFAULT_BACKOFF, normalizeRestartPolicy, shouldRestart } from '../../src/actors/restartPolicy.js';
import { ProtocolError } from '../../src/ipc/messages.js';
import { validateParams } from '../../src/ipc/schema.js';

const submit = (restart: unknown) => validateParams('job.submit', { sheets: [{ argv: ['true'] }], restart });

describe('restart policy', () => {
  it('fills in defaults: on failure, 3 runs, 1 s ×2 up to 300 s; no policy never restarts', () => {
    expect(normalizeRestartPolicy({})).toEqual({ on: 'failure', max_attempts: 3, backoff: DEFAULT_BACKOFF });
    expect(DEFAULT_BACKOFF).toEqual({ initial_seconds: 1, factor: 2, max_seconds: 300 });
    expect(normalizeRestartPolicy(undefined).on).toBe('never');
    // A first delay above the default cap raises the cap rather than being an error.
    expect(normalizeRestartPolicy({ backoff: { initial_seconds: 600 } }).backoff.max_seconds).toBe(600);
  });

  it('a cap below the first delay is a clear error naming the field', () => {
    let err: unknown;
    try {
      normalizeRestartPolicy({ backoff: { initial_seconds: 10, max_seconds: 5 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).message).toBe('invalid params: "restart.backoff.max_seconds" (5) must be at least "restart.backoff.initial_seconds" (10)');
    expect((err as ProtocolError).data).toEqual({ field: 'restart.backoff.max_seconds' });
  });

  it('delay = min(max_seconds, initial × factor^(run-1))', () => {
    const b = { initial_seconds: 2, factor: 3, max_seconds: 50 };
    expect([1, 2, 3, 4, 5].map((run) => backoffSeconds(b, run))).toEqual([2, 6, 18, 50, 50]);
    expect(backoffSeconds({ initial_seconds: 0, factor: 2, max_seconds: 0 }, 3)).toBe(0);
  });

  it('max_attempts counts runs; on decides which ends restart', () => {
    const p = normalizeRestartPolicy({ max_attempts: 2 });
    expect(shouldRestart(p, 'failed', 1)).toBe(true);
    expect(shouldRestart(p, 'failed', 2)).toBe(false);
    expect(shouldRestart(p, 'completed', 1)).toBe(false);
    expect(shouldRestart(normalizeRestartPolicy({ on: 'always', max_attempts: 2 }), 'completed', 1)).toBe(true);
    expect(shouldRestart(normalizeRestartPolicy({ on: 'never', max_attempts: 5 }), 'failed', 1)).toBe(false);
  });

  it('job.submit params: every bound of the policy is checked by the schema, naming the field', () => {
    expect(submit({ on: 'failure', max_attempts: 100, backoff: { initial_seconds: 0, factor: 10, max_seconds: 86400 } }).ok).toBe(true);
    const cases: Array<[unknown, string, RegExp]> = [
      [{ on: 'sometimes' }, 'restart.on', /must be one of "failure", "always", "never"/],
      [{ max_attempts: 0 }, 'restart.max_attempts', /must be at least 1/],
      [{ max_attempts: 101 }, 'restart.max_attempts', /must be at most 100/],
      [{ max_attempts: 2.5 }, 'restart.max_attempts', /integer/],
      [{ backoff: { initial_seconds: -1 } }, 'restart.backoff.initial_seconds', /must be at least 0/],
      [{ backoff: { initial_seconds: 86401 } }, 'restart.backoff.initial_seconds', /must be at most 86400/],
      [{ backoff: { factor: 0.5 } }, 'restart.backoff.factor', /must be at least 1/],
      [{ backoff: { factor: 11 } }, 'restart.backoff.factor', /must be at most 10/],
      [{ backoff: { max_seconds: 86401 } }, 'restart.backoff.max_seconds', /must be at most 86400/],
      [{ backoff: { cap: 5 } }, 'restart.backoff.cap', /unknown field/],
      ['yes', 'restart', /"restart" must be a map/],
    ];
    for (const [restart, field, message] of cases) {
      const r = submit(restart);
      expect(r.ok, JSON.stringify(restart)).toBe(false);
      if (!r.ok) {
        expect(r.field).toBe(field);
        expect(r.message).toMatch(message);
      }
    }
  });
});
