/**
 * Events older than `events_retention_days` are deleted at start and then hourly; a failure
 * is logged and the next hour tries again.
 */
import type { ConductorParts } from './conductorParts.js';

export function startRetention(c: ConductorParts): NodeJS.Timeout {
  const apply = () => {
    const days = c.config.events_retention_days;
    try {
      const { deleted_events } = c.store.applyRetention(days * 86400);
      if (deleted_events > 0) c.log(`retention: deleted ${deleted_events} event(s) older than ${days} days`);
    } catch (err) {
      c.log(`retention failed: ${(err as Error).message}`, 'error');
    }
  };
  apply();
  const timer = setInterval(apply, 3600_000);
  timer.unref();
  return timer;
}
