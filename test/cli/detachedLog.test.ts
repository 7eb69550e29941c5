/**
 * `mzt conductor restart` reuses the log options a detached conductor was started with only for
 * that very conductor: its pid AND its start time (from its hello) must match the record, so a
 * later conductor that got the same pid (a foreground start after a reboot) is not taken for it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detachedLogOf } from '../../src/cli/detach.js';
import { conductorPaths } from '../../src/shared/paths.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mzt-detached-log-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('the detached conductor log record', () => {
  it('applies to the conductor with the recorded pid and start time only', () => {
    const p = conductorPaths(home);
    fs.mkdirSync(p.runDir, { recursive: true });
    fs.writeFileSync(path.join(p.runDir, 'detached-log.json'), JSON.stringify({ pid: 4242, started_at: 1765000000.5, maxBytes: 8192, keep: 2, format: 'json' }));
    expect(detachedLogOf(p, { pid: 4242, started_at: 1765000000.5 })).toEqual({ maxBytes: 8192, keep: 2, format: 'json' });
    expect(detachedLogOf(p, { pid: 4242, started_at: 1765009999.25 })).toEqual({});
    expect(detachedLogOf(p, { pid: 4243, started_at: 1765000000.5 })).toEqual({});
  });
});
