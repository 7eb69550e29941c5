/**
 * Each host's status in a JetStream KV bucket (`mzt_hosts`, one key per host, entries expire
 * after HOST_TTL_MS without a heartbeat), and the rule that a host name is held by one live
 * conductor at a time:
 * - joining creates the key (atomic: of two conductors racing for a name, one wins);
 * - a key written by the same machine and MZT_HOME is this conductor's previous run (a start
 *   lock keeps one conductor per home) and is taken over;
 * - any other live holder is a clash: the fleet part refuses, naming the holder;
 * - every heartbeat is a compare-and-set on the revision it last wrote, so a second conductor
 *   that took the name meanwhile is noticed, not overwritten.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

export const HOSTS_BUCKET = 'mzt_hosts';
export const HOST_TTL_MS = 30_000;
export const HEARTBEAT_MS = 5_000;

/** Who runs under a host name: enough to tell this conductor's previous run from another one. */
export interface HostIdentity {
  instance: string;
  machine_id: string;
  home: string;
  pid: number;
}

/** What the conductor reports about itself (the main thread sends it to the worker). */
export interface HostReport {
  version: string;
  started_at: number;
  max_concurrent_jobs: number;
  running_jobs: number;
  queued_jobs: number;
  paused_jobs: number;
  accepting_work: boolean;
  pressure_level: string;
  /** Its local log's head when reported: with export.exported_seq, the export lag the fleet view shows (absent from older conductors). */
  head_seq?: number;
  /** Its most recent jobs, newest first (bounded by the sender). */
  jobs: Array<{ job_id: string; name: string; status: string; submitted_at: number; ended_at: number | null }>;
}

export interface HostEntry extends HostIdentity, HostReport {
  host: string;
  last_seen: number;
  export: { exported_seq: number };
}

export function machineId(): string {
  try {
    const id = fs.readFileSync('/etc/machine-id', 'utf8').trim();
    if (id) return id;
  } catch {
    /* containers may lack it */
  }
  return `host:${os.hostname()}`;
}

export function newIdentity(home: string): HostIdentity {
  return { instance: crypto.randomBytes(8).toString('hex'), machine_id: machineId(), home, pid: process.pid };
}

/** The name is someone else's: the fleet part stops and says so. */
export class HostClashError extends Error {}

export async function openHostsBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(HOSTS_BUCKET, { ttl: HOST_TTL_MS, history: 1 });
}

export class HostRegistry {
  private revision: number | undefined;

  constructor(
    private readonly host: string,
    private readonly identity: HostIdentity,
  ) {}

  /** Takes the name (or throws HostClashError naming its holder) and writes the first entry. */
  async join(kv: KV, entry: HostEntry): Promise<void> {
    const existing = await kv.get(this.host);
    const value = JSON.stringify(entry);
    if (!existing || existing.operation !== 'PUT') {
      this.revision = await kv.create(this.host, value).catch(async (err: Error) => {
        // Created by another conductor between our read and our create.
        const holder = await kv.get(this.host);
        throw holder ? this.clash(holder.json<HostEntry>(), holder.created) : err;
      });
      return;
    }
    const holder = existing.json<HostEntry>();
    if (holder.machine_id !== this.identity.machine_id || holder.home !== this.identity.home) throw this.clash(holder, existing.created);
    this.revision = await kv.update(this.host, value, existing.revision);
  }

  /** Rewrites the entry if it is still ours; throws HostClashError when another took the name. */
  async heartbeat(kv: KV, entry: HostEntry): Promise<void> {
    try {
      this.revision = await kv.update(this.host, JSON.stringify(entry), this.revision ?? 0);
    } catch (err) {
      const current = await kv.get(this.host);
      if (current && current.operation === 'PUT' && current.json<HostEntry>().instance !== this.identity.instance) {
        throw this.clash(current.json<HostEntry>(), current.created);
      }
      if (!current || current.operation !== 'PUT') return this.join(kv, entry); // expired while NATS was away
      throw err;
    }
  }

  /** Removes the entry at a clean stop, if it is still ours. */
  async leave(kv: KV): Promise<void> {
    if (this.revision === undefined) return;
    await kv.delete(this.host, { previousSeq: this.revision }).catch(() => undefined);
  }

  private clash(holder: HostEntry, since: Date): HostClashError {
    const age = Math.max(0, Math.round((Date.now() - since.getTime()) / 1000));
    return new HostClashError(
      `the fleet host name "${this.host}" is held by a live conductor (pid ${holder.pid}, home ${holder.home}, ` +
        `machine ${String(holder.machine_id).slice(0, 12)}, last seen ${age} s ago): set a unique fleet.host in config.json`,
    );
  }
}
