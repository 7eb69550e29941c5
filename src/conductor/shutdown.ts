/**
 * The conductor's shutdown, in one ordered list. It runs once whatever asks (a signal,
 * `daemon.shutdown`, the caller of runConductor); later asks get the same promise.
 */
import { removePidFile } from './startGuard.js';
import type { RunningConductor } from './parts/conductorParts.js';
import { stopDashboard } from './parts/dashboard.js';
import { stopFleet } from './parts/fleet.js';

export interface Shutdown {
  stop(reason?: string): Promise<void>;
  /** Resolves when the conductor has fully stopped. */
  stopped: Promise<void>;
}

export function shutdownOnce(c: RunningConductor): Shutdown {
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const stop = (reason = 'stop requested'): Promise<void> => {
    if (stopping) return stopping;
    c.shuttingDown = true;
    stopping = shutDown(c, reason).then(resolveStopped);
    return stopping;
  };
  return { stop, stopped };
}

async function shutDown(c: RunningConductor, reason: string): Promise<void> {
  const { log, store } = c;
  log(`stopping: ${reason}`);
  // First: strace detaches before the jobs are stopped (no tracee left stopped or traced).
  await c.tracer.stopAll();
  c.monitoring?.stop();
  c.heapRelease?.stop();
  await c.reloads;
  await stopDashboard(c);
  // Sent meanwhile: the SIGKILLs due to what a previous conductor left running.
  const leftoversStopped = c.leftovers.finish();
  try {
    await c.jobs.shutdown();
  } catch (err) {
    log(`job shutdown failed: ${(err as Error).message}`, 'error');
  }
  await leftoversStopped;
  try {
    await store.append({ type: 'daemon.stopping', data: { reason } });
  } catch (err) {
    log(`could not record daemon.stopping: ${(err as Error).message}`, 'error');
  }
  // Export what it can (daemon.stopping included) before the store closes; the next
  // start resumes from what the stream holds anyway.
  await stopFleet(c);
  await c.server?.close(reason);
  store.close();
  removePidFile(c.paths.pidFile);
  clearInterval(c.retentionTimer);
  log('stopped');
}
