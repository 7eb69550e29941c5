/**
 * Several conductors for one test file (a fleet on one NATS server, a restart on the same
 * home): each started on request with a client connected, and all of them cleaned up after the
 * file's tests — clients closed, conductors stopped, homes removed. For a file with one
 * conductor, useConductor is the fixture.
 */
import { afterAll } from 'vitest';
import { DaemonClient } from '../../src/ipc/client.js';
import { makeHome, removeHome, startConductor, type RunningConductor, type StartOptions } from './conductorProcess.js';

export interface StartedConductor {
  home: string;
  conductor: RunningConductor;
  /** Connected without reconnecting: a test that stops the conductor sees the drop. */
  client: DaemonClient;
}

export interface ConductorSet {
  /** Every conductor started so far, in start order. */
  readonly conductors: readonly RunningConductor[];
  /** Start one more, on a fresh home or on `home` (a restart on the same data). */
  start(opts?: StartOptions & { home?: string }): Promise<StartedConductor>;
  /** A fresh home removed with the others, for a start the test makes itself (one meant to fail). */
  newHome(): string;
}

/**
 * Register it after the hooks of anything the conductors use (a NATS server): after-hooks run
 * in reverse order, so the conductors stop before that goes away.
 */
export function useConductorSet(): ConductorSet {
  const homes = new Set<string>();
  const conductors: RunningConductor[] = [];
  const clients: DaemonClient[] = [];
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const c of conductors) await c.stop();
    for (const h of homes) removeHome(h);
  });
  const newHome = () => {
    const home = makeHome();
    homes.add(home);
    return home;
  };
  return {
    conductors,
    newHome,
    async start({ home = newHome(), ...opts } = {}) {
      homes.add(home);
      const conductor = await startConductor(home, opts);
      conductors.push(conductor);
      const client = await DaemonClient.connect({ socketPath: conductor.socketPath, reconnect: false });
      clients.push(client);
      return { home, conductor, client };
    },
  };
}
