/** SIGHUP while starting: remembered after the config is read, forgotten before. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { catchSighupEarly, releaseSighup, routeSighup, sighupConfigLoaded } from '../../src/conductor/earlySighup.js';

afterEach(() => releaseSighup());

describe('early SIGHUP', () => {
  it('queues one reload for SIGHUPs after the config was read, none for those before', () => {
    catchSighupEarly();
    process.emit('SIGHUP', 'SIGHUP');
    sighupConfigLoaded();
    const reload = vi.fn();
    routeSighup(reload);
    expect(reload).not.toHaveBeenCalled();
    releaseSighup();

    catchSighupEarly();
    sighupConfigLoaded();
    process.emit('SIGHUP', 'SIGHUP');
    process.emit('SIGHUP', 'SIGHUP');
    routeSighup(reload);
    expect(reload).toHaveBeenCalledTimes(1);
    process.emit('SIGHUP', 'SIGHUP');
    expect(reload).toHaveBeenCalledTimes(2);
  });

  it('installs one handler however often it is asked, and removes it', () => {
    const before = process.listenerCount('SIGHUP');
    catchSighupEarly();
    catchSighupEarly();
    expect(process.listenerCount('SIGHUP')).toBe(before + 1);
    releaseSighup();
    expect(process.listenerCount('SIGHUP')).toBe(before);
  });
});
