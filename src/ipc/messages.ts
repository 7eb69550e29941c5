/**
 * Message shapes (msgpack-rpc) and the stable error codes of the protocol.
 * protocol/PROTOCOL.md documents every code; changing a number here breaks clients.
 */

export const MSG_REQUEST = 0;
export const MSG_RESPONSE = 1;
export const MSG_NOTIFICATION = 2;

export type RequestMessage = [typeof MSG_REQUEST, number, string, unknown];
export type ResponseMessage = [typeof MSG_RESPONSE, number, RpcErrorBody | null, unknown];
export type NotificationMessage = [typeof MSG_NOTIFICATION, string, unknown];

export interface RpcErrorBody {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

export const ErrorCode = {
  /** The frame body is not valid MessagePack. */
  PARSE_ERROR: -32700,
  /** Valid MessagePack, but not a `[0, id, method, params]` request. */
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  /** Params fail the method's schema; `data.field` names the offending field. */
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** No job with that id. */
  JOB_NOT_FOUND: -32000,
  /** Backpressure: the conductor is under resource pressure and refuses new work. */
  NOT_ACCEPTING_WORK: -32001,
  /** A job with that id already exists. */
  JOB_EXISTS: -32002,
  /** The conductor is shutting down and takes no new work or subscriptions. */
  SHUTTING_DOWN: -32003,
  /** A documented limit was hit (subscriptions per connection, page size, ...). */
  LIMIT_EXCEEDED: -32004,
  /** The event store cannot write (disk full, I/O error); reads still work. */
  STORAGE_UNAVAILABLE: -32005,
  /** The client asked for a protocol version this server does not speak. */
  UNSUPPORTED_VERSION: -32006,
  /** The operation does not apply to the job's current state (e.g. cancel a finished job). */
  INVALID_STATE: -32007,
  /** Framing violation (zero or oversized length); sent as a notification, then the connection closes. */
  FRAME_ERROR: -32010,
  /** Unknown subscription id. */
  SUBSCRIPTION_NOT_FOUND: -32011,
  /** The data asked for does not exist yet (e.g. no snapshot taken so far). */
  NOT_AVAILABLE: -32012,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error that carries a protocol error code and data: what an error response holds. */
export class CodedError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name; // the subclass: ProtocolError, RpcError
  }
}

/** Error thrown by method handlers; the server turns it into an error response as is. */
export class ProtocolError extends CodedError {
  toBody(): RpcErrorBody {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export const PROTOCOL_VERSION = 1;
