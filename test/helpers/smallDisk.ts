/**
 * A conductor whose home sits on a 16 MB tmpfs that a test fills, and the store's refusals
 * once it is full. The jobs' go-files live in a gate folder off that disk, so that a test can
 * still release a job while nothing can be written to the home.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { DaemonClient, RpcError } from '../../src/ipc/client.js';
import type { RunningConductor } from './conductorProcess.js';
import { mountTmpfs, type Tmpfs } from './tmpfs.js';

export interface SmallDisk {
  /** A folder off the small disk, for files the jobs wait on. */
  readonly gate: string;
  readonly disk: Tmpfs;
  /** Set by the test to the conductor it started, so that it is stopped before the unmount. */
  conductor: RunningConductor | undefined;
  /** Mount the disk and make a home on it. */
  mountHome(): string;
}

/** Registers the clean-up (space freed, conductor stopped, disk unmounted, gate removed) for the file. */
export function useSmallDisk(): SmallDisk {
  const gate = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-gate-'));
  let disk: Tmpfs | undefined;
  const rig: SmallDisk = {
    gate,
    get disk() {
      if (!disk) throw new Error('the small disk is not mounted yet (call mountHome)');
      return disk;
    },
    conductor: undefined,
    mountHome() {
      disk = mountTmpfs(16);
      const home = path.join(disk.dir, 'home');
      fs.mkdirSync(home, { mode: 0o700 });
      return home;
    },
  };
  afterAll(async () => {
    try {
      disk?.free();
      await rig.conductor?.stop();
    } finally {
      disk?.unmount();
      fs.rmSync(gate, { recursive: true, force: true });
    }
  });
  return rig;
}

/** Emit debug events (smaller and smaller) until the store refuses even one small event; returns that refusal. */
export async function fillUntilRefused(client: DaemonClient, d: Tmpfs): Promise<RpcError> {
  d.fill();
  for (const [count, size] of [[200, 1000], [20, 200], [1, 10]] as const) {
    for (let i = 0; i < 2000; i++) {
      try {
        await client.call('debug.emit', { count, size });
      } catch (err) {
        expect(err).toBeInstanceOf(RpcError);
        if (size === 10) return err as RpcError;
        break;
      }
      d.fill();
    }
  }
  throw new Error('the store never refused a write');
}
