/**
 * SIGKILLs due after a grace period, to whatever is still there of what got SIGTERM (a sheet's
 * group, its escaped processes). Their timers do not keep the conductor alive, so its shutdown
 * awaits them (escalationsDone) instead: a process that ignores SIGTERM must not outlive it.
 */

interface Escalation {
  timer: NodeJS.Timeout;
  /** Whether anything it would kill is still alive. */
  pending(): boolean;
}

const escalations = new Set<Escalation>();

export function escalateLater(ms: number, pending: () => boolean, fire: () => void): void {
  const escalation: Escalation = {
    pending,
    timer: setTimeout(() => {
      escalations.delete(escalation);
      fire();
    }, ms).unref(),
  };
  escalations.add(escalation);
}

/**
 * Resolves once every scheduled SIGKILL has fired or has nothing left to kill (polled every
 * 100 ms; bounded by the grace period).
 */
export async function escalationsDone(): Promise<void> {
  while (escalations.size > 0) {
    for (const e of [...escalations]) {
      if (!e.pending()) {
        clearTimeout(e.timer);
        escalations.delete(e);
      }
    }
    if (escalations.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
}
