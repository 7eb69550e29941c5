/** The conductor's process seen from the CLI: is it there, and wait for it to be gone. */

/** Whether a signal could reach `pid` (any error, EPERM included, counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls every `pollMs` until `pid` is gone or `timeoutMs` has passed; true when it is gone. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs: number, from = Date.now()): Promise<boolean> {
  const deadline = from + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, pollMs));
  return !processAlive(pid);
}
