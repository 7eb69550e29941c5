/** Durable events received per second over the last 10 seconds. */
export class RateMeter {
  private readonly buckets = new Array<number>(10).fill(0);
  private second = Math.floor(Date.now() / 1000);

  add(n: number): void {
    this.roll();
    this.buckets[this.second % 10]! += n;
  }

  perSecond(): number {
    this.roll();
    // The current second is incomplete: average the 9 complete ones.
    let sum = 0;
    for (let i = 1; i < 10; i++) sum += this.buckets[(this.second - i + 10) % 10]!;
    return sum / 9;
  }

  private roll(): void {
    const now = Math.floor(Date.now() / 1000);
    for (let s = Math.max(this.second + 1, now - 9); s <= now; s++) this.buckets[s % 10] = 0;
    this.second = Math.max(this.second, now);
  }
}
