/**
 * The `fleet` key of config.json: where the NATS server of the fleet is and what this host is
 * called in it. Absent (null) means no fleet: nothing connects and nothing runs.
 */
import os from 'node:os';

export interface FleetConfig {
  /** nats://host:port (several, comma-separated, for a cluster). */
  nats_url: string;
  /** This conductor's name in the fleet; unique; defaults to the machine's host name. */
  host: string;
  /** A NATS credentials file (.creds), when the server wants one. */
  credentials: string | null;
}

/** Host names become one subject token and one KV key: letters, digits, '-', '_' only. */
export const HOST_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The machine's host name made into a valid fleet host name. */
export function defaultHostName(): string {
  const name = os.hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return name || 'host';
}

/** Validates the `fleet` value; `source` names the file in errors. */
export function parseFleetConfig(value: unknown, source: string): FleetConfig | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${source}: "fleet" must be an object {nats_url, host?, credentials?} or null, got ${JSON.stringify(value)}`);
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!['nats_url', 'host', 'credentials'].includes(key)) {
      throw new Error(`${source}: unknown key "fleet.${key}" (known: nats_url, host, credentials)`);
    }
  }
  const url = raw.nats_url;
  if (typeof url !== 'string' || url.length === 0 || url.length > 1024) {
    throw new Error(`${source}: "fleet.nats_url" must be a non-empty string such as "nats://127.0.0.1:4222", got ${JSON.stringify(url)}`);
  }
  for (const server of url.split(',')) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(server.trim()) && !/^[^\s/:]+:\d+$/.test(server.trim())) {
      throw new Error(`${source}: "fleet.nats_url" has "${server.trim()}": expected nats://host:port`);
    }
  }
  const host = raw.host ?? defaultHostName();
  if (typeof host !== 'string' || !HOST_NAME.test(host)) {
    throw new Error(`${source}: "fleet.host" must be 1 to 64 letters, digits, '-' or '_', got ${JSON.stringify(host)}`);
  }
  const credentials = raw.credentials ?? null;
  if (credentials !== null && (typeof credentials !== 'string' || credentials.length === 0 || credentials.length > 4096)) {
    throw new Error(`${source}: "fleet.credentials" must be the path of a .creds file, got ${JSON.stringify(credentials)}`);
  }
  return { nats_url: url, host, credentials: credentials as string | null };
}
