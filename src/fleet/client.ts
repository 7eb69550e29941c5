/**
 * The fleet from NATS alone (no conductor needed): the host table, the event stream,
 * submitting to the fleet's work queue, and asking the host that has a job for its log or to
 * cancel it. Used by `mzt fleet ...`; works from any machine that reaches the NATS server.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsServerOptions } from './connection.js';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { decodeValue } from '../shared/msgpack.js';
import type { DurableEvent } from '../events/types.js';
import type { HostEntry } from './hostRegistry.js';
import { readLiveHosts } from './fleetView.js';
import { EVENTS_STREAM, EVENTS_SUBJECTS, hostEventsFilter } from './subjects.js';
import { HOST_SERVICE_SUBJECTS, type FleetCancelRequest, type FleetLogAnswer, type FleetLogRequest, type HostRequests, type HostService } from './hostServices.js';
import { claimedBy, queuedSubject } from './queueLookup.js';
import { WORK_ANY_SUBJECT, WORK_MAX_MESSAGE_BYTES, ensureWorkStream, workHostSubject, type FleetJobMessage } from './workQueue.js';

export interface FleetEvent {
  /** Position in the fleet's stream: what `--since` resumes from. */
  stream_seq: number;
  host: string;
  event: DurableEvent;
}

export interface HostRow extends HostEntry {
  /** Seconds since its last heartbeat. */
  age_seconds: number;
}

/** What `mzt fleet cancel` came to; a refused request or a failed cancel is thrown instead. */
export type FleetCancelResult =
  | { outcome: 'cancelled'; job_id: string; host: string }
  | { outcome: 'ended'; job_id: string; host: string; status: string }
  /** Still on the fleet's queue, taken by no host: `queue` is its subject. */
  | { outcome: 'queued'; job_id: string; queue: string }
  | { outcome: 'not_found'; job_id: string; asked: string[] }
  /** Not found on the hosts that answered; these did not (the job may be on one of them). */
  | { outcome: 'unreachable'; job_id: string; asked: string[]; unreachable: string[] };

/** Hosts `mzt fleet status` reads at most: far more than a fleet of workstations has. */
const CLIENT_MAX_HOSTS = 10_000;

export class FleetClient {
  private constructor(private readonly nc: NatsConnection) {}

  static async connect(url: string, options: { credentials?: string | null; timeoutMs?: number } = {}): Promise<FleetClient> {
    try {
      const nc = await connect({
        ...natsServerOptions(url, options.credentials),
        timeout: options.timeoutMs ?? 5000,
        // A command waits on the fleet (submit --wait): a server gone ~10 s closes the connection,
        // which ends the wait with an error rather than hanging on reconnects.
        reconnectTimeWait: 1000,
        maxReconnectAttempts: 10,
      });
      return new FleetClient(nc);
    } catch (err) {
      throw new Error(`cannot reach the fleet's NATS server at ${url}: ${(err as Error).message}`);
    }
  }

  /** Every host with a live entry (entries expire HOST_TTL_MS after their last heartbeat), by name. */
  async hosts(): Promise<HostRow[]> {
    const { hosts } = await readLiveHosts(this.nc, await jetstreamManager(this.nc), CLIENT_MAX_HOSTS);
    return hosts.map(({ entry, age }) => ({ ...entry, age_seconds: Math.round(age * 10) / 10 }));
  }

  /**
   * Events of the fleet in stream order, from stream seq `since` (1 = the beginning) or only new
   * ones; with `follow: false` it ends once it has reached what the stream held at the start.
   */
  async *events(options: { host?: string; since?: number; follow: boolean }): AsyncGenerator<FleetEvent> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
    if (!info) {
      if (!options.follow) return;
      throw new Error(`the fleet has no event stream yet (${EVENTS_STREAM}): no conductor has exported to this NATS server`);
    }
    const endSeq = info.state.last_seq;
    if (!options.follow && (endSeq === 0 || (options.since !== undefined && options.since > endSeq))) return;
    const consumer = await jetstream(this.nc).consumers.get(EVENTS_STREAM, {
      // One subject (nats-server 2.9 takes filter_subject, not filter_subjects).
      filter_subjects: options.host ? hostEventsFilter(options.host) : EVENTS_SUBJECTS,
      ...(options.since !== undefined ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.since } : { deliver_policy: options.follow ? DeliverPolicy.New : DeliverPolicy.All }),
    });
    const decode = (m: { subject: string; seq: number; data: Uint8Array }): FleetEvent => ({
      stream_seq: m.seq,
      host: m.subject.split('.')[1]!,
      event: decodeValue(m.data) as DurableEvent,
    });
    if (!options.follow) {
      // Batches until one comes back empty or the stream's end at the start is reached.
      for (;;) {
        const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          yield decode(m);
          if (m.seq >= endSeq) return;
        }
        if (got === 0) return;
      }
    }
    const messages = await consumer.consume({ max_messages: 1000 });
    try {
      for await (const m of messages) yield decode(m);
    } finally {
      await messages.close();
    }
  }

  /** The event stream's last seq now (0: empty), or undefined when no conductor has exported yet. */
  async eventsHead(): Promise<number | undefined> {
    const info = await (await jetstreamManager(this.nc)).streams.info(EVENTS_STREAM).catch(() => undefined);
    return info?.state.last_seq;
  }

  /** Resolves when the connection is closed for good (reconnects given up, or close()), with the error if any. */
  closed(): Promise<Error | void> {
    return this.nc.closed();
  }

  /**
   * Puts a job on the fleet's work queue (any host with room, or `host` alone); resolves once
   * JetStream stored it. The job id is the message id: the same job submitted twice within
   * the queue's duplicate window is queued once.
   */
  async submit(job: FleetJobMessage['job'], options: { host?: string; from: string }): Promise<{ job_id: string; queue: string; duplicate: boolean }> {
    const link = { nc: this.nc, js: jetstream(this.nc), jsm: await jetstreamManager(this.nc) };
    await ensureWorkStream(link);
    const message: FleetJobMessage = { v: 1, job, submitted_at: Date.now() / 1000, submitted_from: options.from };
    const bytes = new TextEncoder().encode(JSON.stringify(message));
    if (bytes.length > WORK_MAX_MESSAGE_BYTES) throw new Error(`job ${job.job_id} is ${bytes.length} bytes as a fleet message; the limit is ${WORK_MAX_MESSAGE_BYTES}`);
    const subject = options.host ? workHostSubject(options.host) : WORK_ANY_SUBJECT;
    const ack = await link.js.publish(subject, bytes, { msgID: job.job_id, timeout: 10_000 });
    return { job_id: job.job_id, queue: subject, duplicate: ack.duplicate };
  }

  /**
   * The hosts to ask about a job, most likely first: `host` alone when given, else the live
   * hosts whose recent jobs list it, (for a cancel) the one that claimed it from the queue, then
   * every live host.
   */
  private async hostsFor(jobId: string, host?: string, withClaimer = false): Promise<string[]> {
    if (host) return [host];
    const live = await this.hosts();
    const claimer = withClaimer ? await claimedBy(this.nc, jobId) : undefined;
    const listing = live.filter((h) => h.jobs.some((j) => j.job_id === jobId)).map((h) => h.host);
    return [...listing, ...(claimer ? [claimer] : []), ...live.map((h) => h.host)].filter((h, i, all) => all.indexOf(h) === i);
  }

  /**
   * Asks the hosts in turn, stopping at the first that has the job (any answer but not_found);
   * a refused request is thrown, naming the host. `down`: the hosts that did not answer.
   */
  private async askHosts<S extends HostService>(
    service: S,
    request: HostRequests[S]['request'],
    hosts: string[],
    timeoutMs: number,
  ): Promise<{ host: string; answer: HostRequests[S]['answer'] } | { down: string[] }> {
    const down: string[] = [];
    for (const host of hosts) {
      let answer: HostRequests[S]['answer'];
      try {
        answer = (await this.nc.request(HOST_SERVICE_SUBJECTS[service](host), JSON.stringify(request), { timeout: timeoutMs })).json();
      } catch (err) {
        down.push(`${host} (${(err as Error).message})`);
        continue;
      }
      if (!answer.ok && answer.code === 'bad_request') throw new Error(`${host}: ${answer.error}`);
      if (answer.ok || answer.code !== 'not_found') return { host, answer };
    }
    return { down };
  }

  /**
   * A page of a job's log from the conductor that ran it: `host`, else the live host whose
   * recent jobs list it, else every live host is asked. Errors name the hosts asked.
   */
  async logs(request: FleetLogRequest, host?: string): Promise<Extract<FleetLogAnswer, { ok: true }> & { host: string }> {
    const candidates = await this.hostsFor(request.job_id, host);
    if (candidates.length === 0) throw new Error(`no live host in the fleet to ask for job ${request.job_id}`);
    const found = await this.askHosts('logs', request, candidates, 5000);
    if ('host' in found && found.answer.ok) return { ...found.answer, host: found.host };
    const down = 'down' in found ? found.down : [];
    const where = down.length ? `; not answering: ${down.join(', ')} (its conductor is down or not in the fleet)` : '';
    throw new Error(`job ${request.job_id} was not found on ${host ? `host ${host}` : `any live host (asked ${candidates.join(', ')})`}${where}`);
  }

  /**
   * Cancels a job on the host that has it, as job.cancel there would (hosts as for logs, plus
   * the one that claimed it from the queue). `timeoutMs` bounds each host's answer, which comes
   * once the job's processes are gone (up to that host's kill grace). A refused request
   * (job.cancel's schema) or a cancel the host could not finish is thrown, naming the host.
   */
  async cancel(request: FleetCancelRequest, options: { host?: string; timeoutMs: number }): Promise<FleetCancelResult> {
    const id = request.job_id;
    const asked = await this.hostsFor(id, options.host, true);
    const found = await this.askHosts('cancel', request, asked, options.timeoutMs);
    if ('host' in found) {
      const answer = found.answer;
      if (answer.ok) return { outcome: 'cancelled', job_id: id, host: found.host };
      if (answer.code === 'ended') return { outcome: 'ended', job_id: id, host: found.host, status: answer.status };
      throw new Error(`${found.host}: ${answer.error}`);
    }
    // On no host that answered: it may still wait on the queue, which no host holds.
    const queue = await queuedSubject(await jetstreamManager(this.nc), id);
    if (queue) return { outcome: 'queued', job_id: id, queue };
    if (found.down.length > 0) return { outcome: 'unreachable', job_id: id, asked, unreachable: found.down };
    return { outcome: 'not_found', job_id: id, asked };
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
  }
}
