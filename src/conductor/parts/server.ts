/**
 * The socket server: every request goes through the method table (methods.ts); every event
 * the bus delivers goes to the subscriptions of its connections.
 */
import { IpcServer, DEFAULT_SERVER_LIMITS } from '../../ipc/server.js';
import { createDispatch } from '../methods.js';
import { VERSION } from '../version.js';
import type { RunningConductor } from './conductorParts.js';

/** Built, not yet listening: the dashboard starts between the two (see main.ts). */
export function createServer(c: RunningConductor, requestShutdown: (reason: string) => void): IpcServer {
  const { store, log } = c;
  const { dispatch } = createDispatch({
    version: VERSION,
    startedAt: c.startedAt,
    paths: c.paths,
    store,
    jobs: c.jobs,
    limits: DEFAULT_SERVER_LIMITS,
    config: () => c.config,
    pendingRestart: () => c.pendingRestart ?? [],
    serverStats: () => ({ connections: c.server?.connectionCount ?? 0, subscriptions: c.server?.subscriptionCount ?? 0 }),
    shuttingDown: () => c.shuttingDown,
    monitoring: () => c.monitoring,
    tracer: c.tracer,
    dashboardUrl: () => (c.dashboard?.port ? c.dashboard.url : null),
    fleet: () => c.fleet,
    debugMethods: process.env.MZT_DEBUG_METHODS === '1',
    log,
    requestShutdown,
  });
  return new IpcServer({
    socketPath: c.paths.socketPath,
    log: store,
    events: { subscribe: (handler) => c.bus.subscribe((e) => handler(e.event, e.bytes)) },
    dispatch,
    limits: DEFAULT_SERVER_LIMITS,
    logger: log,
  });
}

/** Binds the socket; when it cannot, the dashboard already started is stopped too. */
export async function listen(c: RunningConductor, server: IpcServer): Promise<void> {
  try {
    await server.listen();
  } catch (err) {
    await c.dashboard?.stop().catch(() => undefined);
    throw err;
  }
}
