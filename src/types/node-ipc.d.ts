// node-ipc 12.0.0 ships no type declarations; this covers the part the conductor uses.
declare module 'node-ipc' {
  import type { Server as NetServer, Socket } from 'node:net';

  interface IpcConfig {
    appspace: string;
    socketRoot: string;
    id: string;
    encoding: BufferEncoding;
    rawBuffer: boolean;
    sync: boolean;
    unlink: boolean;
    silent: boolean;
    maxConnections: number;
    readableAll: boolean;
    writableAll: boolean;
    logger: (...args: unknown[]) => void;
  }

  interface IpcSocketServer {
    /** The underlying net.Server, created by start(). */
    server: NetServer;
    sockets: Socket[];
    start(): void;
    stop(): void;
    on(event: 'start', handler: () => void): void;
    on(event: 'connect', handler: (socket: Socket) => void): void;
    on(event: 'data', handler: (data: Buffer, socket: Socket) => void): void;
    on(event: 'socket.disconnected', handler: (socket: Socket, id: unknown) => void): void;
    on(event: 'error', handler: (err: unknown) => void): void;
    on(event: string, handler: (...args: any[]) => void): void;
    emit(socket: Socket, data: Buffer | string): void;
  }

  export class IPCModule {
    config: IpcConfig;
    server: IpcSocketServer;
    serve(path: string, callback?: () => void): void;
  }

  const singleton: IPCModule;
  export default singleton;
}
