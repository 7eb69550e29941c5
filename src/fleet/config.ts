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

/**
 * Completes the `fleet` value once protocol/schemas/config.json has checked it (types, known keys,
 * lengths, the host pattern: src/conductor/config.ts): checks each server of nats_url, which the
 * schema cannot, and names the host after the machine when config.json does not.
 * `source` names the file in errors.
 */
export function parseFleetConfig(value: { nats_url: string; host?: string; credentials?: string | null } | null, source: string): FleetConfig | null {
  if (value === null) return null;
  for (const server of value.nats_url.split(',')) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(server.trim()) && !/^[^\s/:]+:\d+$/.test(server.trim())) {
      throw new Error(`${source}: "fleet.nats_url" has "${server.trim()}": expected nats://host:port`);
    }
  }
  return { nats_url: value.nats_url, host: value.host ?? defaultHostName(), credentials: value.credentials ?? null };
}
