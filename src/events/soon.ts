/**
 * "Do this soon", for the two places that gather work before doing it once: the event store's
 * group commit and a connection's outbound writes.
 *
 * The first time in a turn of the event loop, the work runs at the end of the current callback
 * (a microtask): a lone request is committed and answered without waiting for the rest of the
 * turn. Deferring to the end of the turn (setImmediate) instead let other callbacks of the same
 * turn run first and put 0.3-0.5 ms on the paced p99 (BENCHMARKS.md). Any further time in the
 * same turn, it runs once at the end of the turn, so a turn in which many clients send at once
 * still gathers their work into one commit and one write per connection.
 */

/** Counts turns of the event loop; one shared setImmediate per turn, only while in use. */
let turn = 0;
let turnEndScheduled = false;
const endTurn = (): void => {
  turnEndScheduled = false;
  turn++;
};

function currentTurn(): number {
  if (!turnEndScheduled) {
    turnEndScheduled = true;
    setImmediate(endTurn);
  }
  return turn;
}

export class Soon {
  private scheduled = false;
  /** The turn in which this last ran as a microtask. */
  private microtaskTurn = -1;

  constructor(private readonly work: () => void) {}

  get isScheduled(): boolean {
    return this.scheduled;
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const now = currentTurn();
    if (this.microtaskTurn !== now) {
      this.microtaskTurn = now;
      queueMicrotask(this.fire);
    } else {
      setImmediate(this.fire);
    }
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    this.work();
  };
}
