/**
 * The socket methods: each validates its params against protocol/schemas (a clear
 * `invalid params` naming the field) and then calls the part of the conductor that owns
 * the answer. The handlers live by concern under handlers/; this assembles them into the one
 * table typed by ipc/methodTable.ts (the client uses it too) and dispatches into it.
 */
import type { Dispatch, RequestContext } from '../ipc/connection.js';
import { ErrorCode, ProtocolError } from '../ipc/messages.js';
import { validateParams } from '../ipc/schema.js';
import type { Handlers } from '../ipc/methodTable.js';
import { StorageError } from '../events/store.js';
import type { MethodDeps } from './handlers/methodDeps.js';
import { daemonHandlers } from './handlers/daemonHandlers.js';
import { monitorHandlers } from './handlers/monitorHandlers.js';
import { debugEmit, eventHandlers } from './handlers/eventHandlers.js';
import { jobHandlers } from './handlers/jobHandlers.js';
import { fleetHandlers } from './handlers/fleetHandlers.js';

export type { MethodDeps };

export function createDispatch(deps: MethodDeps): { dispatch: Dispatch; methods: string[] } {
  const handlers: Handlers = {
    ...daemonHandlers(deps, () => methods),
    ...monitorHandlers(deps),
    ...eventHandlers(deps),
    ...jobHandlers(deps),
    ...fleetHandlers(() => deps.fleet?.()),
  };
  if (deps.debugMethods) handlers['debug.emit'] = debugEmit(deps.store);
  const methods = Object.keys(handlers);

  const dispatch: Dispatch = (method, params, ctx) => {
    // Own keys only: "constructor" or "toString" are not methods.
    const handler = Object.hasOwn(handlers, method) ? (handlers as Record<string, (p: unknown, c: RequestContext) => unknown>)[method] : undefined;
    if (!handler) {
      throw new ProtocolError(ErrorCode.METHOD_NOT_FOUND, `unknown method "${method}"`, { method });
    }
    const checked = validateParams(method, params);
    if (!checked.ok) {
      throw new ProtocolError(ErrorCode.INVALID_PARAMS, checked.message, { field: checked.field });
    }
    const outcome = handler(checked.value, ctx);
    // A failed commit is a clear, stable error for the caller, not an internal one.
    if (outcome instanceof Promise) {
      return outcome.catch((err: unknown) => {
        if (err instanceof StorageError) throw new ProtocolError(ErrorCode.STORAGE_UNAVAILABLE, err.message);
        throw err;
      });
    }
    return outcome;
  };

  return { dispatch, methods };
}
