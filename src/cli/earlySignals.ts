/**
 * Imported by the CLI's executable (bin.ts) before the other modules are loaded:
 * a foreground `mzt conductor start` catches SIGHUP from its first moments (earlySighup.ts).
 * Other commands keep the default (a hangup ends `mzt subscribe` like any terminal program).
 */
import { catchSighupEarly } from '../conductor/earlySighup.js';
import { holdBackStartupTiering } from '../conductor/startupTiering.js';

const words = process.argv.slice(2).filter((a) => !a.startsWith('-'));
if (words[0] === 'conductor' && words[1] === 'start' && !process.argv.includes('--detach')) {
  catchSighupEarly();
  // Before the conductor's modules load (startupTiering.ts): its idle memory.
  holdBackStartupTiering();
}
