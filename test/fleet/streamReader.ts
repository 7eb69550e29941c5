/** Reads what the fleet's event stream holds for one host, in stream order (tests only). */
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { decodeValue } from '../../src/ipc/framing.js';
import { EVENTS_STREAM, hostEventsFilter } from '../../src/fleet/subjects.js';

export interface HeldEvent {
  streamSeq: number;
  seq: number;
  type: string;
  subject: string;
  msgId: string | undefined;
}

export async function readHostEvents(url: string, host: string): Promise<HeldEvent[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
    if (!info || info.state.messages === 0) return [];
    const js = jetstream(nc);
    // nats-server 2.9 takes one filter_subject (filter_subjects came in 2.10): a plain pull
    // consumer that lives for this read only.
    const created = await jsm.consumers.add(EVENTS_STREAM, {
      filter_subject: hostEventsFilter(host),
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: 30e9,
    });
    const consumer = await js.consumers.get(EVENTS_STREAM, created.name);
    const out: HeldEvent[] = [];
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 5000, expires: 1000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const event = decodeValue(m.data) as { seq: number; type: string };
        out.push({ streamSeq: m.seq, seq: event.seq, type: event.type, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') });
      }
      if (got === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

/**
 * Seqs from..N, each once and in order, with N at least `head` (events committed after the
 * caller read its head may be there too): what "exactly once, in seq order" means here.
 */
export function checkExactlyOnce(held: HeldEvent[], from: number, head: number): string | undefined {
  const seqs = held.map((h) => h.seq);
  const last = Math.max(head, seqs.at(-1) ?? 0);
  if (seqs.length !== last - from + 1) {
    const seen = new Map<number, HeldEvent>();
    const repeats = held.filter((h) => seen.has(h.seq) || !seen.set(h.seq, h)).slice(0, 3);
    const detail = repeats.map((h) => `seq ${h.seq} again at stream seq ${h.streamSeq} (first at ${seen.get(h.seq)!.streamSeq}, ids ${seen.get(h.seq)!.msgId} / ${h.msgId})`);
    return `held ${seqs.length} events for seqs ${from}..${last}${detail.length ? `: ${detail.join('; ')}` : ''}`;
  }
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== from + i) return `position ${i} holds seq ${seqs[i]}, expected ${from + i}`;
  }
  return undefined;
}
