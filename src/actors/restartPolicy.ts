/**
 * A job's restart policy (`restart: {on, max_attempts, backoff}`), as pm2 and supervisord
 * users expect it: a job whose sheet fails is run again from that sheet after an exponential
 * backoff with a cap, at most `max_attempts` runs in a row.
 *
 * - `on: failure` restarts after a failed sheet (exit code ≠ 0, a signal nobody here sent,
 *   a timeout, a sheet that could not start); `always` also after the job completed (all its
 *   sheets again, from sheet 1); `never` is the default.
 * - A cancel never restarts: a person's stop is deliberate (pm2/supervisord do the same), and
 *   a resource monitor's shed too — it cancels to remove load, a restart would bring it back.
 *   Neither does a conductor shutdown or restart (the job is closed as interrupted).
 * - `max_attempts` counts runs, the first included (Docker's max-retries + 1). A person's
 *   `job.retry` starts a new series: the policy gets its attempts again.
 * - Delay before run k+1 after run k failed: min(max_seconds, initial_seconds × factor^(k-1)).
 */
import type { RestartBackoff, RestartOn, RestartPolicy, RestartPolicyInput } from '../events/jobRecord.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';

export type { RestartBackoff, RestartOn, RestartPolicy, RestartPolicyInput };

/** pm2's exp_backoff_restart_delay grows ×1.5 to 15 s; agent runs are long, so ×2 to 5 min. */
export const DEFAULT_BACKOFF: RestartBackoff = { initial_seconds: 1, factor: 2, max_seconds: 300 };
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Bounds (also in protocol/schemas/methods.json#/definitions/RestartPolicy). */
export const MAX_ATTEMPTS_LIMIT = 100;
export const MAX_BACKOFF_SECONDS = 86_400;
export const MAX_BACKOFF_FACTOR = 10;

export const NO_RESTART: RestartPolicy = { on: 'never', max_attempts: 1, backoff: DEFAULT_BACKOFF };

/**
 * The full policy, defaults filled in. The schema has checked each field's type and range;
 * this checks what a schema cannot say (the cap below the first delay).
 */
export function normalizeRestartPolicy(input: RestartPolicyInput | undefined): RestartPolicy {
  if (!input) return NO_RESTART;
  const backoff: RestartBackoff = { ...DEFAULT_BACKOFF, ...input.backoff };
  if (input.backoff?.max_seconds === undefined) backoff.max_seconds = Math.max(backoff.max_seconds, backoff.initial_seconds);
  if (backoff.max_seconds < backoff.initial_seconds) {
    throw new ProtocolError(
      ErrorCode.INVALID_PARAMS,
      `invalid params: "restart.backoff.max_seconds" (${backoff.max_seconds}) must be at least "restart.backoff.initial_seconds" (${backoff.initial_seconds})`,
      { field: 'restart.backoff.max_seconds' },
    );
  }
  return { on: input.on ?? 'failure', max_attempts: input.max_attempts ?? DEFAULT_MAX_ATTEMPTS, backoff };
}

/** Seconds to wait before the next run, after `run` runs of this series (run ≥ 1). */
export function backoffSeconds(backoff: RestartBackoff, run: number): number {
  const raw = backoff.initial_seconds * backoff.factor ** Math.max(0, run - 1);
  return Math.min(backoff.max_seconds, raw);
}

/** Whether a run that ended this way is run again; `run` is its number in the series. */
export function shouldRestart(policy: RestartPolicy, ended: 'failed' | 'completed', run: number): boolean {
  if (run >= policy.max_attempts) return false;
  return policy.on === 'always' || (policy.on === 'failure' && ended === 'failed');
}
