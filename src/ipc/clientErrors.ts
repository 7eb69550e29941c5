/** The errors a DaemonClient user can meet, each its own class. */

export class ConductorNotRunning extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason?: unknown,
  ) {
    super(`conductor is not running (no answer on ${socketPath}); start it with: mzt conductor start`);
    this.name = 'ConductorNotRunning';
  }
}

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The connection dropped while a call was in flight; the call may or may not have run. */
export class ConnectionClosed extends Error {
  constructor(message = 'connection to the conductor closed') {
    super(message);
    this.name = 'ConnectionClosed';
  }
}
