/**
 * When the conductor owns its process (the CLI): SIGTERM/SIGINT stop it, SIGHUP reloads the
 * config, and the process exits once it has stopped.
 */
import type { LogFn } from '../log/logger.js';
import { releaseSighup, routeSighup } from './earlySighup.js';
import type { Shutdown } from './shutdown.js';

export function handleProcessSignals(shutdown: Shutdown, reloadConfig: () => void, log: LogFn): void {
  let signalled = false;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log(`${signal} again while stopping; still stopping`);
      return;
    }
    signalled = true;
    void shutdown.stop(`signal ${signal}`);
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  routeSighup(reloadConfig);
  // Over a file-size limit (ulimit -f), writes must fail with EFBIG — reported as storage
  // errors — instead of the default action, which kills the conductor.
  process.on('SIGXFSZ', () => undefined);
  void shutdown.stopped.then(() => {
    releaseSighup();
    process.exitCode = 0;
    // Let stdio flush, then leave even if a stray handle lingers.
    setTimeout(() => process.exit(0), 100).unref();
  });
}
