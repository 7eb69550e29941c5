/**
 * How a CLI command reaches the conductor: its paths (MZT_HOME, read at each call: `--home`
 * sets it), and one socket connection per command, closed afterwards.
 */
import { DaemonClient } from '../ipc/client.js';
import { conductorPaths, resolveHome, type ConductorPaths } from '../shared/paths.js';

/** Runs `fn` with a connection; the commands take it as a parameter. */
export type WithClient = <T>(fn: (client: DaemonClient) => Promise<T>) => Promise<T>;

export function cliPaths(): ConductorPaths {
  return conductorPaths(resolveHome());
}

/** Connect and hello timeout; MZT_CONNECT_TIMEOUT_MS overrides it (tests keep it short). */
function connectTimeoutMs(): number {
  const n = Number(process.env.MZT_CONNECT_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
}

export async function connect(opts: { reconnect?: boolean } = {}): Promise<DaemonClient> {
  return DaemonClient.connect({ socketPath: cliPaths().socketPath, timeoutMs: connectTimeoutMs(), reconnect: opts.reconnect ?? false, clientName: 'mzt-cli' });
}

/** Run a client command with one connection, closed afterwards. */
export async function withClient<T>(fn: (client: DaemonClient) => Promise<T>, opts: { reconnect?: boolean } = {}): Promise<T> {
  const client = await connect(opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
