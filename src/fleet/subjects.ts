/**
 * Names the fleet shares in NATS: streams, subjects, message ids. Kept in one place because
 * every conductor and every `mzt fleet` reader must agree on them.
 */

/** The stream that holds every host's durable events. */
export const EVENTS_STREAM = 'MZT_EVENTS';
/** Its subjects: `mzt.<host>.events.<event type>`. */
export const EVENTS_SUBJECTS = 'mzt.*.events.>';

export function hostEventsFilter(host: string): string {
  return `mzt.${host}.events.>`;
}

/**
 * The subject of one event. Event types are dotted words; anything a subject token cannot hold
 * (space, '*', '>') becomes '_', so a client-chosen type can never widen a filter.
 */
export function eventSubject(host: string, type: string): string {
  const tokens = type.split('.').map((t) => t.replace(/[\s*>]/g, '_') || '_');
  return `mzt.${host}.events.${tokens.join('.')}`;
}

/** JetStream de-duplicates on this id: one event of one host is stored once. */
export function eventMessageId(host: string, seq: number): string {
  return `${host}:${seq}`;
}

/** The seq inside a message id written by eventMessageId, or undefined. */
export function seqOfMessageId(id: string | undefined | null, host: string): number | undefined {
  if (!id || !id.startsWith(`${host}:`)) return undefined;
  const seq = Number(id.slice(host.length + 1));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}
