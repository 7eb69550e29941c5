/**
 * Soon: the first run in a turn of the event loop happens at the end of the current callback;
 * any further one in the same turn waits for the end of the turn, so busy turns still batch.
 */
import { describe, expect, it } from 'vitest';
import { Soon } from '../../src/events/soon.js';

const nextTurn = () => new Promise<void>((r) => setTimeout(r, 0));

describe('Soon', () => {
  it('runs at the end of the current callback the first time in a turn, once however often asked', async () => {
    await nextTurn();
    const order: string[] = [];
    const soon = new Soon(() => order.push('work'));
    setImmediate(() => order.push('immediate queued before'));
    soon.schedule();
    soon.schedule();
    expect(soon.isScheduled).toBe(true);
    order.push('callback ends');
    await Promise.resolve();
    expect(order).toEqual(['callback ends', 'work']);
    await nextTurn();
    expect(order).toEqual(['callback ends', 'work', 'immediate queued before']);
  });

  it('a second run in the same turn waits for the end of the turn; the next turn is prompt again', async () => {
    await nextTurn();
    const runs: string[] = [];
    let label = '';
    const soon = new Soon(() => runs.push(label));
    // Three callbacks of one turn (immediates of one check phase), each asking for a run.
    await new Promise<void>((done) => {
      setImmediate(() => {
        label = 'first';
        soon.schedule();
      });
      setImmediate(() => {
        expect(runs).toEqual(['first']); // it ran when the first callback ended
        label = 'second';
        soon.schedule();
      });
      setImmediate(() => {
        expect(runs).toEqual(['first']); // the second is held for the end of the turn...
        label = 'third';
        soon.schedule(); // ...and this one joins it
        setImmediate(() => setImmediate(done));
      });
    });
    expect(runs).toEqual(['first', 'third']);
    await nextTurn();
    label = 'later turn';
    soon.schedule();
    await Promise.resolve();
    expect(runs).toEqual(['first', 'third', 'later turn']);
  });
});
