// The package's public surface: the client library and the protocol's types.
export {
  DaemonClient,
  Subscription,
  type ConnectOptions,
  type ReconnectOptions,
  type SubscribeOptions,
  type StreamItem,
  type Methods,
  type HelloResult,
} from './ipc/client.js';
export { ConductorNotRunning, ConnectionClosed, RpcError, TimeoutError } from './ipc/clientErrors.js';
export { ErrorCode, PROTOCOL_VERSION, type RpcErrorBody } from './ipc/messages.js';
export { encodeFrame, encodeValue, decodeValue, FrameDecoder, FrameError, DEFAULT_MAX_FRAME_BYTES } from './ipc/framing.js';
export type { EventEnvelope, DurableEvent, EventFilter } from './events/types.js';
export type { JobSpec, SheetSpec, JobRecord, SheetRecord, JobStatus, SheetStatus } from './events/jobRecord.js';
export { conductorPaths, resolveHome } from './shared/paths.js';
