/**
 * Per-client request limit for the dashboard: a token bucket per client (address + whether it
 * holds the token), so a flood costs a refused request each instead of a route's work, and a
 * second account flooding without the token does not use up the owner's bucket. An SSE stream
 * counts once, when it is opened.
 */

/** Requests a client may make at once (a page load takes about a dozen). */
export const RATE_LIMIT_BURST = 120;
/** Requests per second a client may sustain. */
export const RATE_LIMIT_PER_SECOND = 30;
/** Clients tracked at most; beyond it the least recently seen is forgotten. */
export const RATE_LIMIT_MAX_CLIENTS = 1024;

export interface RateLimitOptions {
  burst?: number;
  perSecond?: number;
  maxClients?: number;
  /** Milliseconds; tests pass their own clock. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimiter {
  readonly burst: number;
  readonly perSecond: number;
  readonly maxClients: number;
  private readonly now: () => number;
  /** In least-recently-used order: a key is moved to the end on every request. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions = {}) {
    this.burst = options.burst ?? RATE_LIMIT_BURST;
    this.perSecond = options.perSecond ?? RATE_LIMIT_PER_SECOND;
    this.maxClients = options.maxClients ?? RATE_LIMIT_MAX_CLIENTS;
    this.now = options.now ?? Date.now;
    if (!(this.burst >= 1) || !(this.perSecond > 0) || !(this.maxClients >= 1)) {
      throw new Error(`rate limit: burst must be ≥ 1, perSecond > 0 and maxClients ≥ 1 (got ${this.burst}, ${this.perSecond}, ${this.maxClients})`);
    }
  }

  /** Clients currently tracked (never above maxClients). */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string): Admission {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
      bucket.at = now;
    } else {
      // A forgotten client starts with a full bucket: eviction can only make the limit milder.
      if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond)) };
  }
}
