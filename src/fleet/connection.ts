/**
 * The conductor's one connection to the fleet's NATS server. It keeps trying in the background
 * (first connect included) and never throws into the conductor: with NATS down the conductor
 * serves locally and the fleet parts wait here.
 */
import fs from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { FleetConfig } from './config.js';

/** Where to connect: `nats_url` may list several servers, comma-separated; a .creds file authenticates. */
export function natsServerOptions(url: string, credentials: string | null | undefined): { servers: string[]; authenticator?: ReturnType<typeof credsAuthenticator> } {
  return {
    servers: url.split(',').map((s) => s.trim()),
    ...(credentials ? { authenticator: credsAuthenticator(fs.readFileSync(credentials)) } : {}),
  };
}

/** Creates a stream if it is not there; any conductor or submitter may be first, and one may win the race meanwhile. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config).catch(async (err: Error) => {
      await jsm.streams.info(config.name).catch(() => Promise.reject(err));
    });
  }
}

export interface FleetLink {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export class FleetConnection {
  private link: FleetLink | undefined;
  private waiting: Array<{ resolve: (link: FleetLink) => void; reject: (err: Error) => void }> = [];
  private closed = false;
  private connectedNow = false;
  private lastErrorText: string | null = null;

  constructor(
    private readonly config: FleetConfig,
    private readonly log: (message: string) => void,
  ) {}

  /** Starts connecting; resolves at once (the connection comes when NATS is there). */
  start(): void {
    void this.connectLoop();
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  get lastError(): string | null {
    return this.lastErrorText;
  }

  /** The link once connected (waits while NATS has never been reached). */
  ready(): Promise<FleetLink> {
    if (this.closed) return Promise.reject(new Error('the fleet connection is closed'));
    if (this.link) return Promise.resolve(this.link);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { reject } of this.waiting.splice(0)) reject(new Error('the fleet connection is closed'));
    const link = this.link;
    this.link = undefined;
    if (link) await link.nc.close().catch(() => undefined);
  }

  private async connectLoop(): Promise<void> {
    let delayMs = 250;
    while (!this.closed) {
      try {
        const nc = await connect({
          ...natsServerOptions(this.config.nats_url, this.config.credentials),
          name: `mzt-conductor ${this.config.host}`,
          // After the first connect the client reconnects by itself, for ever, buffering what
          // is published meanwhile (bounded by its reconnect buffer).
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        let jsm: JetStreamManager;
        try {
          jsm = await jetstreamManager(nc);
        } catch (err) {
          await nc.close().catch(() => undefined);
          throw new Error(`JetStream is not available there (start nats-server with -js): ${(err as Error).message}`);
        }
        this.link = { nc, js: jetstream(nc), jsm };
        this.connectedNow = true;
        this.lastErrorText = null;
        this.log(`fleet: connected to ${nc.getServer()} as host ${this.config.host}`);
        void this.watch(nc);
        for (const { resolve } of this.waiting.splice(0)) resolve(this.link);
        return;
      } catch (err) {
        const text = `cannot reach NATS at ${this.config.nats_url}: ${(err as Error).message}`;
        if (text !== this.lastErrorText) this.log(`fleet: ${text} (retrying in the background)`);
        this.lastErrorText = text;
        await new Promise((r) => setTimeout(r, delayMs).unref());
        delayMs = Math.min(delayMs * 2, 5000);
      }
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connectedNow = false;
        this.log('fleet: disconnected from NATS; reconnecting');
      } else if (s.type === 'reconnect') {
        this.connectedNow = true;
        this.log('fleet: reconnected to NATS');
      }
    }
  }
}
