/** EventBus: isolation of handlers, synchronous in-order delivery, ephemeral encoding. */
import { map, filter } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { EventBus, encodeEphemeral, type BusEvent } from '../../src/events/bus.js';
import { decodeValue } from '../../src/ipc/framing.js';

const eph = (i: number): BusEvent => encodeEphemeral('test.tick', { i }, { ts: 1 });

describe('EventBus', () => {
  it('a throwing handler is logged and removed; the others keep receiving, in order', () => {
    const logs: string[] = [];
    const bus = new EventBus({ log: (m) => logs.push(m) });
    const before: number[] = [];
    const after: number[] = [];
    let thrown = 0;
    bus.subscribe((e) => before.push(e.event.data.i as number));
    bus.subscribe(() => {
      thrown += 1;
      throw new Error('boom');
    });
    bus.subscribe((e) => after.push(e.event.data.i as number));
    for (let i = 0; i < 5; i++) bus.publish(eph(i));
    expect(before).toEqual([0, 1, 2, 3, 4]);
    expect(after).toEqual([0, 1, 2, 3, 4]);
    expect(thrown).toBe(1);
    expect(bus.subscriberCount).toBe(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/test\.tick.*removed.*boom/s);
  });

  it('a throwing logger does not break delivery either', () => {
    const bus = new EventBus({
      log: () => {
        throw new Error('logger down');
      },
    });
    const seen: number[] = [];
    bus.subscribe(() => {
      throw new Error('x');
    });
    bus.subscribe((e) => seen.push(e.event.data.i as number));
    bus.publish(eph(1));
    bus.publish(eph(2));
    expect(seen).toEqual([1, 2]);
  });

  it('delivery is synchronous and the unsubscribe function stops it', () => {
    const bus = new EventBus();
    const seen: number[] = [];
    const off = bus.subscribe((e) => seen.push(e.event.data.i as number));
    bus.publish(eph(1));
    expect(seen).toEqual([1]);
    off();
    bus.publish(eph(2));
    expect(seen).toEqual([1]);
  });

  it('an event published from inside a handler reaches everyone after the current one', () => {
    const bus = new EventBus();
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe((e) => {
      a.push(e.event.data.i as number);
      if (e.event.data.i === 1) bus.publish(eph(2));
    });
    bus.subscribe((e) => b.push(e.event.data.i as number));
    bus.publish(eph(1));
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1, 2]);
  });

  it('a handler removed during delivery gets nothing after; one function registered twice is removed once', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    let offB: () => void = () => undefined;
    bus.subscribe((e) => {
      seen.push(`a${e.event.data.i}`);
      offB(); // b is detached before its turn: it must not get even the event being delivered
    });
    offB = bus.subscribe((e) => seen.push(`b${e.event.data.i}`));
    const twice = (e: BusEvent) => seen.push(`t${e.event.data.i}`);
    const offFirst = bus.subscribe(twice);
    bus.subscribe(twice);
    bus.publish(eph(1));
    offFirst();
    offFirst(); // removing again removes nothing more
    bus.publish(eph(2));
    expect(seen).toEqual(['a1', 't1', 't1', 'a2', 't2']);
    expect(bus.subscriberCount).toBe(2);
  });

  it('a handler or pipeline attached later, even during delivery, gets the events after that one', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.publish(eph(0)); // nobody attached yet
    bus.subscribe((e) => {
      seen.push(`a${e.event.data.i}`);
      if (e.event.data.i === 1) bus.subscribe((x) => seen.push(`late${x.event.data.i}`));
    });
    bus.publish(eph(1));
    bus.subscribeVia((events$) => events$.pipe(map((e) => e.event.data.i as number)), (i) => seen.push(`piped${i}`));
    bus.publish(eph(2));
    expect(seen).toEqual(['a1', 'a2', 'late2', 'piped2']);
    expect(bus.subscriberCount).toBe(3);
  });

  it('a pipeline sees the filtered events in the bus order, re-entrant ones after the current event', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe((e) => {
      seen.push(`all${e.event.data.i}`);
      if (e.event.data.i === 1) bus.publish(encodeEphemeral('test.other', { i: 9 }, { ts: 1 }));
      if (e.event.data.i === 9) bus.publish(eph(3));
    });
    const off = bus.subscribeVia(
      (events$) => events$.pipe(filter((e) => e.event.type === 'test.tick'), map((e) => e.event.data.i as number)),
      (i) => seen.push(`tick${i}`),
    );
    bus.publish(eph(1));
    expect(seen).toEqual(['all1', 'tick1', 'all9', 'all3', 'tick3']);
    off();
    bus.publish(eph(4));
    expect(seen.at(-1)).toBe('all4');
    expect(bus.subscriberCount).toBe(1);
  });

  it('a failing pipeline or its handler is logged and detached; plain handlers keep receiving', () => {
    const logs: string[] = [];
    const bus = new EventBus({ log: (m) => logs.push(m) });
    const seen: number[] = [];
    let piped = 0;
    bus.subscribeVia(
      (events$) => events$.pipe(map((e) => {
        if (e.event.data.i === 2) throw new Error('operator broke');
        return e;
      })),
      () => (piped += 1),
    );
    bus.subscribeVia((events$) => events$, () => {
      throw new Error('handler broke');
    });
    bus.subscribe((e) => seen.push(e.event.data.i as number));
    for (let i = 1; i <= 3; i++) bus.publish(eph(i));
    expect(seen).toEqual([1, 2, 3]);
    expect(piped).toBe(1);
    expect(bus.subscriberCount).toBe(1);
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/handler threw on test\.tick.*handler broke/s);
    expect(logs[1]).toMatch(/pipeline failed.*operator broke/s);
  });
});

describe('encodeEphemeral', () => {
  it('builds an envelope without seq and encodes it once', () => {
    const e = encodeEphemeral('monitor.snapshot', { cpu: 1.5 }, { job_id: 'j', sheet_num: 2, ts: 12.5 });
    expect(e.event).toEqual({ ts: 12.5, type: 'monitor.snapshot', job_id: 'j', sheet_num: 2, data: { cpu: 1.5 } });
    expect(Object.keys(e.event)).toEqual(['ts', 'type', 'job_id', 'sheet_num', 'data']);
    expect(decodeValue(e.bytes)).toEqual(e.event);
    const bare = encodeEphemeral('monitor.snapshot', {});
    expect(Object.keys(decodeValue(bare.bytes) as object)).toEqual(['ts', 'type', 'data']);
  });

  it('refuses an empty type', () => {
    expect(() => encodeEphemeral('', {})).toThrow(/type must be a non-empty string/);
  });
});
