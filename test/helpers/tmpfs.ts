/**
 * A real small filesystem to fill: tmpfs mounted on a private temp dir (the tests run as root).
 * `fill` takes every free byte with dd; `free` gives it back.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Write zeros until the filesystem is full (returns the bytes taken). */
  fill(): number;
  /** Remove what fill wrote. */
  free(): void;
  freeBytes(): number;
  /** Unmount (lazily if still busy) and remove the mount point; safe to call twice. */
  unmount(): void;
}

export function mountTmpfs(sizeMb: number, prefix = 'mzt-tmpfs-'): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir]);
  let fills = 0;
  let mounted = true;
  const freeBytes = () => {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    freeBytes,
    fill() {
      const before = freeBytes();
      // dd stops with "No space left on device" (exit 1): that is the point.
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, `fill-${fills++}`)}`, 'bs=64k'], { stdio: 'ignore' });
      return before - freeBytes();
    },
    free() {
      for (let i = 0; i < fills; i++) fs.rmSync(path.join(dir, `fill-${i}`), { force: true });
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      const r = spawnSync('umount', [dir], { stdio: 'ignore' });
      if (r.status !== 0) spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
