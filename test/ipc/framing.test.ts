import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, notificationPrefix } from '../../src/ipc/framing.js';

describe('notificationPrefix', () => {
  it('completed by an encoded value, decodes as the whole notification', () => {
    const event = { seq: 42, type: 'job.started', job_id: 'a', data: { nested: [1, 'x'] } };
    const bytes = Buffer.concat([notificationPrefix('stream.event', { subscription: 7 }, 'event'), encodeValue(event)]);
    expect(decodeValue(bytes)).toEqual([2, 'stream.event', { subscription: 7, event }]);
  });

  it('holds several fields, and refuses more keys than a fixmap takes', () => {
    const fields = { a: 1, b: 'two', c: null };
    const bytes = Buffer.concat([notificationPrefix('m', fields, 'last'), encodeValue(true)]);
    expect(decodeValue(bytes)).toEqual([2, 'm', { ...fields, last: true }]);
    const many = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, i]));
    expect(() => notificationPrefix('m', many, 'last')).toThrow(/16 keys do not fit a fixmap/);
  });
});
