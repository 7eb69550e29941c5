/**
 * SIGHUP (reload the config) must never kill a starting conductor. Its default action ends
 * the process, and the reload needs the store, the job manager and the monitor, which exist
 * only once start-up is done: so a handler is installed first thing in the process and
 * remembers a SIGHUP until the reload can run.
 *
 * A SIGHUP before the config file is read asks for nothing the first read does not give; one
 * after it runs one reload as soon as start-up hands over.
 */
let installed = false;
let pending = false;
let reload: (() => void) | undefined;

const onSighup = () => {
  if (reload) reload();
  else pending = true;
};

/** Catch SIGHUP from now on (idempotent). */
export function catchSighupEarly(): void {
  if (installed) return;
  installed = true;
  process.on('SIGHUP', onSighup);
}

/** The config has just been read: earlier SIGHUPs are answered by that read. */
export function sighupConfigLoaded(): void {
  pending = false;
}

/** From now on SIGHUP runs `fn`; one that came while starting runs it now. */
export function routeSighup(fn: () => void): void {
  catchSighupEarly();
  reload = fn;
  if (pending) {
    pending = false;
    fn();
  }
}

/** Stop catching SIGHUP (the conductor has stopped). */
export function releaseSighup(): void {
  process.off('SIGHUP', onSighup);
  installed = false;
  pending = false;
  reload = undefined;
}
