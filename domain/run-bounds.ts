/**
 * How long a sync run, and each activity of it, may take before it fails `run-too-long`: derived
 * from the company's size and Lucca's rate limit, so that a run stuck retrying (a Lucca that
 * answers slowly for hours, a store that keeps timing out) gives the company's queue back within
 * hours instead of the day its retries would otherwise allow (10–20 attempts of up to 2 h each).
 *
 * Pure and deterministic: the run workflow computes its bounds from its input.
 */

/** Users in a Lucca page (the client's `LUCCA_PAGE_SIZE`; a unit test keeps them equal). */
export const USERS_PER_PAGE = 1000;
/** Lucca's limit per tenant: a page costs at least 60 s / 50 = 1.2 s, the floor of a read. */
export const LUCCA_REQUESTS_PER_MINUTE = 50;
export const PAGE_FLOOR_MS = 60_000 / LUCCA_REQUESTS_PER_MINUTE;

/** Assumed when the company's size is not known yet (its first run): a large company. */
export const UNKNOWN_COMPANY_USERS = 100_000;

const MINUTE_MS = 60_000;
/**
 * Fixed part of the read's and of the work's bounds: a small company's read is seconds, but a
 * deploy (no worker for a while) or Lucca's 429s of the tenant's other integrations cost minutes.
 */
const BASE_MS = 30 * MINUTE_MS;
/** A read page: 25 times the rate-limit floor (429 waits, retries with backoff, slow answers). */
const READ_PER_PAGE_MS = 25 * PAGE_FLOOR_MS;
/**
 * Planning or applying a page: the slowest measured, attaching 100,000 imported profiles on
 * FerretDB's SQLite backend, took 643 s (6.4 s a page, docs/benchmarks.md); this is 12.5 times that.
 */
const WORK_PER_PAGE_MS = 80_000;
/** A single write (the run's start, its finish), retried: each attempt is bounded by 30 s already. */
export const STEP_BOUND_MS = 15 * MINUTE_MS;

/**
 * Pages to allow for a company whose last run saw `users` (null when unknown): twice as many, and
 * the short page that ends a read. A company that grew tenfold since still reads well within its
 * bound (see the unit test). A run that failed without counts (one past its bound included) leaves
 * the next one the unknown size's bound.
 */
export function expectedPages(users: number | null | undefined): number {
  const known = typeof users === 'number' && Number.isFinite(users) && users >= 0 ? users : UNKNOWN_COMPANY_USERS;
  return Math.ceil((2 * known) / USERS_PER_PAGE) + 1;
}

/** The read's schedule-to-close bound (every attempt and backoff included). */
export function readBoundMs(users: number | null | undefined): number {
  return BASE_MS + expectedPages(users) * READ_PER_PAGE_MS;
}

/** The plan's or the apply's schedule-to-close bound, from the pages the read staged. */
export function workBoundMs(stagedPages: number): number {
  return BASE_MS + Math.max(1, stagedPages) * WORK_PER_PAGE_MS;
}

/**
 * The whole run's bound (a workflow timer): the bounds of its steps from the expected size, end to
 * end (the read plans as it goes; the apply follows; a start and a finish). A backstop: each
 * activity fails on its own bound first, unless the time goes where no activity bound counts
 * (workflow tasks no worker takes, an apply of a company far larger than expected).
 */
export function runBoundMs(users: number | null | undefined): number {
  return readBoundMs(users) + workBoundMs(expectedPages(users)) + 2 * STEP_BOUND_MS;
}

/** A bound as an operator reads it: seconds under two minutes (tests), minutes otherwise. */
export function formatBound(ms: number): string {
  return ms < 2 * MINUTE_MS ? `${Math.ceil(ms / 1000)} s` : `${Math.round(ms / MINUTE_MS)} min`;
}
