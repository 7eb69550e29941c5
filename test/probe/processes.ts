/** Test helpers: real child processes that are always cleaned up, and a polling deadline. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const spawned: ChildProcess[] = [];

/** `sh -c script` in its own process group (like a sheet), killed as a group by killAll(). */
export function shell(script: string, options: { stdin?: boolean } = {}): ChildProcess & { pid: number } {
  const child = spawn('sh', ['-c', script], { detached: true, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'ignore'] });
  if (child.pid === undefined) throw new Error(`could not spawn sh -c ${script}`);
  spawned.push(child);
  return child as ChildProcess & { pid: number };
}

export async function killAll(): Promise<void> {
  const waits = spawned.splice(0).map(async (child) => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is already gone
    }
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  });
  await Promise.all(waits);
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Resolves with the first stdout line of the child that contains `text`. */
export function stdoutLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.includes(text)) resolve();
    });
    // 'close' (not 'exit'): it comes after the last stdout data.
    child.once('close', () => reject(new Error(`stdout closed before printing ${text}`)));
  });
}
