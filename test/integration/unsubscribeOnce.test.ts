/**
 * Unsubscribing and then leaving the `for await` (what `mzt submit --wait --quiet` does) asks
 * the conductor once. The iterator's return() unsubscribed again with the same server id, a
 * second round trip every such command waited for.
 */
import { describe, expect, it, vi } from 'vitest';
import { useConductor } from '../helpers/conductorProcess.js';

const fixture = useConductor({ prefix: 'mzt-unsub-once-' });

describe('a subscription left after unsubscribe()', () => {
  it('sends one unsubscribe', async () => {
    const client = fixture.client;
    const call = vi.spyOn(client, 'call');
    const sub = client.subscribe({ since: 0 });
    for await (const item of sub) {
      if (item.kind === 'caught_up') {
        await sub.unsubscribe();
        break;
      }
    }
    const unsubscribes = call.mock.calls.filter(([method]) => method === 'unsubscribe');
    call.mockRestore();
    expect(unsubscribes).toHaveLength(1);
    // The connection still answers: nothing was left waiting.
    expect((await client.call('ping', {})).pong).toBe(true);
  });
});
