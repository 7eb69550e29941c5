import { describe, expect, it } from 'vitest';
import { QueuedIterator } from '../../src/ipc/queuedIterator.js';

describe('QueuedIterator', () => {
  it('hands items over in order, to a waiting consumer at once, then ends after what is queued', async () => {
    const q = new QueuedIterator<number>({ highWater: 10 });
    const it = q[Symbol.asyncIterator]();
    const waiting = it.next();
    q.push(1);
    expect(await waiting).toEqual({ value: 1, done: false });
    q.push(2);
    q.push(3);
    q.end();
    q.push(4); // after the end: ignored
    expect(await it.next()).toEqual({ value: 2, done: false });
    expect(await it.next()).toEqual({ value: 3, done: false });
    expect(await it.next()).toEqual({ value: undefined, done: true });
    await q.closed;
  });

  it('asks the producer to stop at highWater and to go on at lowWater, never dropping', async () => {
    const calls: string[] = [];
    const q = new QueuedIterator<number>({ highWater: 4, lowWater: 1, onFull: () => calls.push('full'), onRoom: () => calls.push('room') });
    for (let i = 0; i < 6; i++) q.push(i);
    expect(calls).toEqual(['full']);
    expect(q.length).toBe(6);
    const got: number[] = [];
    const it = q[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) got.push((await it.next()).value as number);
    expect(calls).toEqual(['full', 'room']);
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it('stays correct past the compaction point (thousands queued, taken in order)', async () => {
    const q = new QueuedIterator<number>({ highWater: 100_000 });
    for (let i = 0; i < 5000; i++) q.push(i);
    const it = q[Symbol.asyncIterator]();
    for (let i = 0; i < 3000; i++) expect((await it.next()).value).toBe(i);
    for (let i = 5000; i < 6000; i++) q.push(i);
    for (let i = 3000; i < 6000; i++) expect((await it.next()).value).toBe(i);
    expect(q.length).toBe(0);
  });

  it('return() (a consumer that breaks) ends it, drops what is queued and tells the producer', async () => {
    let returned = 0;
    const q = new QueuedIterator<number>({ highWater: 10, onReturn: () => void returned++ });
    q.push(1);
    q.push(2);
    for await (const v of q) {
      expect(v).toBe(1);
      break;
    }
    expect(returned).toBe(1);
    expect(q.isEnded).toBe(true);
    expect(q.length).toBe(0);
    await q.closed;
  });
});
