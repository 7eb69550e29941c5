/** The errors a DaemonClient user can meet, each its own class. */
import { CodedError } from './messages.js';

export class ConductorNotRunning extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason?: unknown,
  ) {
    super(`conductor is not running (no answer on ${socketPath}); start it with: mzt conductor start`);
    this.name = 'ConductorNotRunning';
  }
}

/** The conductor answered a call with an error response (code and data as it sent them). */
export class RpcError extends CodedError {}

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
