/**
 * Keeps this process within Lucca's request budget: 50 requests per rolling 60 seconds per tenant,
 * a budget the company shares with all its other Lucca integrations.
 */

export interface RollingWindowLimiterOptions {
  /** Requests allowed per window; `Infinity` disables the limiter. */
  limit: number;
  windowMs: number;
  /** Extra spacing between a request and the one `limit` places later. Default 0. */
  marginMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Lucca counts requests as they arrive, this process as they leave: a margin keeps network jitter
 * from landing the 51st request just inside Lucca's window (it costs well under 1% of throughput).
 */
export const LUCCA_RATE_LIMIT = { limit: 50, windowMs: 60_000, marginMs: 250 } as const;

/** Sleeps `ms`, rejecting with the signal's own reason when aborted (so a Temporal cancellation stays one). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * What the Lucca client asks of a rate limit: a slot before each request, and to hold the tenant
 * after a 429. `RollingWindowLimiter` keeps it in this process; `SharedLuccaBudget` in the store,
 * across processes.
 */
export interface LuccaRequestBudget {
  /** Resolves when one request may go; a shared budget also wants to be told when it was answered. */
  acquire(signal?: AbortSignal): Promise<void | RequestTicket>;
  holdFor(ms: number): void | Promise<void>;
}

/** One request taken from a budget: told when Lucca answered it (or the attempt ended otherwise). */
export interface RequestTicket {
  answered(): Promise<void>;
}

export class RollingWindowLimiter implements LuccaRequestBudget {
  readonly limit: number;
  readonly windowMs: number;
  readonly marginMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Start times of the requests that count in the window, past and reserved (ascending). */
  private readonly slots: number[] = [];
  private blockedUntil = 0;

  constructor(opts: RollingWindowLimiterOptions) {
    if (!(opts.limit === Infinity || (Number.isInteger(opts.limit) && opts.limit > 0))) {
      throw new RangeError(`Rate limit must be a positive integer or Infinity, got ${opts.limit}`);
    }
    if (!(Number.isFinite(opts.windowMs) && opts.windowMs > 0)) {
      throw new RangeError(`Rate-limit window must be a positive number of ms, got ${opts.windowMs}`);
    }
    this.limit = opts.limit;
    this.windowMs = opts.windowMs;
    this.marginMs = opts.marginMs ?? 0;
    if (!(Number.isFinite(this.marginMs) && this.marginMs >= 0)) {
      throw new RangeError(`Rate-limit margin must be a non-negative number of ms, got ${this.marginMs}`);
    }
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? sleep;
  }

  /**
   * Resolves when one more request fits in the window. Callers are served first come, first served:
   * each call reserves its slot at once, then sleeps until that slot's time.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.limit === Infinity) return;
    const now = this.now();
    const spacing = this.windowMs + this.marginMs;
    while (this.slots.length > 0 && (this.slots[0] ?? 0) + spacing <= now) this.slots.shift();
    let at = Math.max(now, this.blockedUntil);
    if (this.slots.length >= this.limit) {
      at = Math.max(at, (this.slots[this.slots.length - this.limit] ?? 0) + spacing);
    }
    // Sorted insert: a reservation abandoned earlier can leave room before later ones.
    let index = this.slots.length;
    while (index > 0 && (this.slots[index - 1] ?? 0) > at) index--;
    this.slots.splice(index, 0, at);
    try {
      // Timers may fire a little early; the slot is not ours until the clock says so.
      for (let current = now; current < at; current = this.now()) await this.sleep(at - current, signal);
    } catch (error) {
      // An abandoned reservation frees its slot; later reservations only become more conservative.
      const index = this.slots.indexOf(at);
      if (index >= 0) this.slots.splice(index, 1);
      throw error;
    }
  }

  /**
   * Lucca said 429: its counter also includes the company's other integrations, so hold every
   * request of this tenant (not only the one that was refused) until it says to come back.
   */
  holdFor(ms: number): void {
    if (this.limit === Infinity) return;
    this.blockedUntil = Math.max(this.blockedUntil, this.now() + ms);
  }
}

const registry = new Map<string, RollingWindowLimiter>();

/**
 * The process-wide limiter of one tenant, so two runs of the same company in one worker share its
 * budget. Keyed by the normalised base URL (the tenant's host in production) and the limit settings.
 */
export function limiterFor(baseUrl: string, opts: Partial<RollingWindowLimiterOptions> = {}): RollingWindowLimiter {
  const limit = opts.limit ?? LUCCA_RATE_LIMIT.limit;
  const windowMs = opts.windowMs ?? LUCCA_RATE_LIMIT.windowMs;
  const marginMs = opts.marginMs ?? LUCCA_RATE_LIMIT.marginMs;
  const key = `${tenantKey(baseUrl)} ${limit}/${windowMs}+${marginMs}`;
  let limiter = registry.get(key);
  if (!limiter) {
    limiter = new RollingWindowLimiter({ ...opts, limit, windowMs, marginMs });
    registry.set(key, limiter);
  }
  return limiter;
}

/** One budget per tenant: its base URL normalised to origin and path. */
export function tenantKey(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return baseUrl.trim().toLowerCase();
  }
}
