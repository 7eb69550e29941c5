import type { EventEnvelope } from '../../src/events/types.js';

/** Read a subscription until `until` matches an event (inclusive); returns the events seen. */
export async function collectUntil(
  iterable: AsyncIterable<any>,
  until: (e: EventEnvelope) => boolean,
  timeoutMs = 15_000,
): Promise<EventEnvelope[]> {
  const events: EventEnvelope[] = [];
  const it = iterable[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${events.length} events; last: ${events.slice(-5).map((e) => `${e.seq}:${e.type}`).join(', ')}`);
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${events.length} events; last: ${events.slice(-5).map((e) => `${e.seq}:${e.type}`).join(', ')}`)), left);
      }),
    ]).finally(() => clearTimeout(timer));
    if (next.done) return events;
    if (next.value.kind !== 'event') continue;
    events.push(next.value.event);
    if (until(next.value.event)) return events;
  }
}

export function expectGapFree(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] !== seqs[i - 1]! + 1) throw new Error(`gap or disorder at index ${i}: ${seqs[i - 1]} → ${seqs[i]}`);
  }
}
