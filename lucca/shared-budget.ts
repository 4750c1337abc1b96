import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { BudgetLead, LuccaBudgetStore } from '../domain/lucca-budget';
import { LuccaRateLimitedError } from './errors';
import { LUCCA_RATE_LIMIT, sleep, tenantKey, type LuccaRequestBudget, type RequestTicket } from './rate-limiter';

export interface SharedBudgetOptions {
  limit?: number;
  windowMs?: number;
  marginMs?: number;
  /**
   * The longest one request waits for its slot before failing with `lucca-rate-limited` (saying
   * what it waited for). Default 150 s: a window and a 429's longest accepted Retry-After fit in it,
   * and it is below the sync's stall timeout (at least 150 s) so a run says why it did not move.
   */
  maxWaitMs?: number;
  /** The longest Lucca's Retry-After is honoured for the whole tenant (the client's `maxRateLimitWaitMs`). */
  maxHoldMs?: number;
  /**
   * A sync's read (not a one-off key check): while another read leads the tenant, this one lets it
   * go first, for at most this long in all (0, the default: never). See `acquire`.
   */
  leadDeferMs?: number;
  /**
   * Told when this read starts waiting for another read's lead of the tenant (until when at most),
   * and when it stops (after how long), so its run can say what it waits for.
   */
  onLeadWait?: (wait: LeadWait) => void;
  /** Names this process in the slots it claims (host and pid by default), to tell who held what. */
  holder?: string;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** A read waiting for another read's lead of its tenant, then done waiting. */
export type LeadWait = { waiting: true; atMostUntil: number } | { waiting: false; waitedMs: number };

export const DEFAULT_BUDGET_MAX_WAIT_MS = 150_000;
const DEFAULT_MAX_HOLD_MS = 120_000;
/**
 * How long the lead outlives its latest slot without claiming another: a read's next request follows
 * its last answer within a second or two, so a lead this quiet has stopped reading (or crashed).
 */
export const LEAD_GRACE_MS = 5_000;
/**
 * How long in all a sync's read lets another read of its tenant go first: under the request bound
 * less a window (so the slot after it is in time), and half the shortest stall clock (150 s), as the
 * read makes no progress meanwhile.
 */
export const READ_LEAD_DEFER_MS = 75_000;

/**
 * One Lucca tenant's request budget, shared by every process that calls the tenant (workers of
 * every company on it, the CLI's and the console's key checks): Lucca counts 50 requests per
 * rolling minute per tenant, whoever sends them.
 *
 * Requests take numbered slots. Slot n may not start before slot n−limit started plus the window
 * (and a margin), nor before slot n−1's time, nor while a 429's Retry-After holds the tenant. A slot
 * is claimed by inserting it under its number, which the store refuses twice (an insert of an `_id`
 * is atomic on MongoDB and on FerretDB, where a conditional update is not). A slot is a time, not a
 * lock: a holder that crashes or is cancelled leaves a time that passes, and nobody waits on it
 * longer than one window.
 *
 * Sync reads of one tenant go one after the other rather than side by side, within a bound: two
 * 100,000-employee companies read side by side both end their reads at the end of the combined
 * floor, then both apply at once; read one after the other, the first applies while the second
 * still reads, and only the second's apply is left after the floor (measured in
 * docs/benchmarks.md). The read that claims first leads until shortly after its latest slot; a read
 * given `leadDeferMs` waits while another leads, at most that long in all, then shares the budget
 * as every process did before. Key checks never wait for a lead. The budget is not wasted meanwhile:
 * the lead takes every slot the others leave.
 */
export class SharedLuccaBudget implements LuccaRequestBudget {
  readonly tenant: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly marginMs: number;
  readonly maxWaitMs: number;
  readonly maxHoldMs: number;
  readonly #store: LuccaBudgetStore;
  readonly #holder: string;
  /** This budget as a read that may lead the tenant (one per read attempt). */
  readonly #readId: string;
  readonly #leadDeferMs: number;
  readonly #onLeadWait: ((wait: LeadWait) => void) | undefined;
  /** Until when this read still lets a lead go first (set by its first request). */
  #deferUntil: number | null = null;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The last slot this instance saw: the store's hint may lag behind it. */
  #last = 0;

  constructor(store: LuccaBudgetStore, baseUrl: string, opts: SharedBudgetOptions = {}) {
    this.tenant = tenantKey(baseUrl);
    this.limit = opts.limit ?? LUCCA_RATE_LIMIT.limit;
    this.windowMs = opts.windowMs ?? LUCCA_RATE_LIMIT.windowMs;
    this.marginMs = opts.marginMs ?? LUCCA_RATE_LIMIT.marginMs;
    this.maxWaitMs = opts.maxWaitMs ?? DEFAULT_BUDGET_MAX_WAIT_MS;
    this.maxHoldMs = opts.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    if (!(Number.isInteger(this.limit) && this.limit > 0)) {
      throw new RangeError(`Rate limit must be a positive integer, got ${this.limit}`);
    }
    if (!(this.windowMs > 0 && this.marginMs >= 0 && this.maxWaitMs > 0 && this.maxHoldMs >= 0)) {
      throw new RangeError('Rate-limit window, margin, wait and hold must be positive numbers of ms');
    }
    this.#store = store;
    this.#holder = opts.holder ?? `${os.hostname()} pid ${process.pid}`;
    this.#readId = `${this.#holder} read ${randomUUID()}`;
    // Never so long that the slot after it would pass the request's bound (a window and a margin away at most).
    this.#leadDeferMs = Math.max(0, Math.min(opts.leadDeferMs ?? 0, this.maxWaitMs - this.windowMs - this.marginMs));
    this.#onLeadWait = opts.onLeadWait;
    this.#now = opts.now ?? Date.now;
    this.#sleep = opts.sleep ?? sleep;
  }

  /**
   * Resolves when this process may send one request to the tenant; its slot is recorded as sent,
   * and again as answered by the ticket.
   */
  async acquire(signal?: AbortSignal): Promise<RequestTicket> {
    signal?.throwIfAborted();
    const began = this.#now();
    const lead = this.#leadDeferMs > 0 ? await this.#letTheLeadGo(began, signal) : undefined;
    const { n, at } = await this.#claim(began);
    if (lead !== undefined) await this.#lead(lead, at);
    // What the claim read is only current when the slot was free at once.
    for (let until = at; until > this.#now();) {
      if (until - began > this.maxWaitMs) throw this.#tooLong(n, until, began);
      for (let now = this.#now(); now < until; now = this.#now()) await this.#sleep(until - now, signal);
      // Since the reservation the slot a window back may have left late, or Lucca may have said 429.
      const [head, back] = await Promise.all([this.#store.head(this.tenant), this.#back(n)]);
      until = Math.max(this.#bounded(head.heldUntil), back);
    }
    await this.#store.markSent(this.tenant, n, this.#now());
    return {
      // Lucca counts a request when it arrives: somewhere between the send, which a busy event loop
      // (a page being planned) or a busy Lucca may delay past the margin, and the answer. The
      // answer's time is what the request a window later counts from (measured: a 429 in 204
      // requests counting from the send, on a loaded machine). Best effort: a store that fails
      // here leaves the send time, and the read goes on.
      answered: () => this.#store.markSent(this.tenant, n, this.#now()).catch(() => undefined),
    };
  }

  /** Lucca answered 429: every process holds the tenant until it says to come back. */
  async holdFor(ms: number): Promise<void> {
    await this.#store.hold(this.tenant, this.#now() + Math.min(ms, this.maxHoldMs));
  }

  /**
   * Waits while another read leads the tenant, within this read's deferral; answers the lead as
   * last seen, for `#lead`.
   */
  async #letTheLeadGo(began: number, signal?: AbortSignal): Promise<BudgetLead | null> {
    this.#deferUntil ??= began + this.#leadDeferMs;
    let waitingSince: number | null = null;
    for (;;) {
      const lead = await this.#store.lead(this.tenant);
      const now = this.#now();
      if (!lead || lead.holder === this.#readId || lead.until <= now || now >= this.#deferUntil) {
        if (waitingSince !== null) this.#onLeadWait?.({ waiting: false, waitedMs: now - waitingSince });
        return lead;
      }
      if (waitingSince === null) {
        waitingSince = now;
        this.#onLeadWait?.({ waiting: true, atMostUntil: this.#deferUntil });
      }
      await this.#sleep(Math.min(lead.until, this.#deferUntil) - now, signal);
    }
  }

  /** After a claim: this read leads until a while after its slot, unless another read leads. */
  async #lead(seen: BudgetLead | null, at: number): Promise<void> {
    const now = this.#now();
    if (seen && seen.holder !== this.#readId && seen.until > now) return;
    await this.#store.takeLead(this.tenant, this.#readId, Math.max(now, at) + LEAD_GRACE_MS, seen);
  }

  async #claim(began: number): Promise<{ n: number; at: number }> {
    const head = await this.#store.head(this.tenant);
    let last = Math.max(head.last, this.#last);
    let previous = last > 0 ? await this.#store.slot(this.tenant, last) : null;
    // The hint may lag: walk forward to the first free number.
    for (let next = await this.#store.slot(this.tenant, last + 1); next;) {
      last = next.n;
      previous = next;
      next = await this.#store.slot(this.tenant, last + 1);
    }
    for (;;) {
      const n = last + 1;
      const at = Math.max(
        this.#now(),
        this.#bounded(head.heldUntil),
        previous ? this.#bounded(previous.at) : 0,
        await this.#back(n),
      );
      // Refused before claiming: a slot this process will not use must not delay the others.
      if (at - began > this.maxWaitMs) throw this.#tooLong(n, at, began);
      if (await this.#store.claim(this.tenant, { n, at }, this.#holder)) {
        this.#last = n;
        await this.#store.advance(this.tenant, n, n - 2 * this.limit);
        return { n, at };
      }
      // Another process took that number between our read and our insert: go after it.
      last = n;
      previous = await this.#store.slot(this.tenant, n);
    }
  }

  /** The earliest slot n may start given the slot `limit` places back (0 when there is none). */
  async #back(n: number): Promise<number> {
    if (n - this.limit < 1) return 0;
    const back = await this.#store.slot(this.tenant, n - this.limit);
    if (!back) return 0;
    return this.#bounded(Math.max(back.at, back.sentAt ?? 0)) + this.windowMs + this.marginMs;
  }

  /**
   * No correct process reserves further ahead than a window and the longest hold: a time beyond
   * that comes from a clock set wrong, and is not allowed to hold the tenant any longer than that.
   */
  #bounded(at: number): number {
    return Math.min(at, this.#now() + this.windowMs + this.marginMs + this.maxHoldMs);
  }

  #tooLong(n: number, until: number, began: number): LuccaRateLimitedError {
    return new LuccaRateLimitedError(
      `Lucca's request budget for ${this.tenant} (${this.limit} requests per ${this.windowMs / 1000} s, ` +
        `shared by every sync and command using this tenant) has no room before ` +
        `${new Date(until).toISOString()}: request slot ${n} would wait ${Math.ceil((until - began) / 1000)} s, ` +
        `more than the ${Math.round(this.maxWaitMs / 1000)} s allowed. Nothing was sent; try again later.`,
      Math.max(0, until - this.#now()),
      null,
    );
  }
}
