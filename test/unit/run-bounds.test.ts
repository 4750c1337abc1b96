import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  expectedPages,
  formatBound,
  LUCCA_REQUESTS_PER_MINUTE,
  PAGE_FLOOR_MS,
  readBoundMs,
  runBoundMs,
  STEP_BOUND_MS,
  UNKNOWN_COMPANY_USERS,
  USERS_PER_PAGE,
  workBoundMs,
} from '../../domain/run-bounds';
import { LUCCA_PAGE_SIZE } from '../../lucca/client';
import { LUCCA_RATE_LIMIT } from '../../lucca/rate-limiter';

/** What reading `users` costs at Lucca's rate limit alone: every full page and the short one that ends the read. */
const readFloorMs = (users: number) => (Math.floor(users / USERS_PER_PAGE) + 1) * PAGE_FLOOR_MS;
/** The slowest apply measured (docs/benchmarks.md): attaching 100,000 profiles on FerretDB/SQLite, 643.5 s for 101 pages. */
const SLOWEST_APPLY_PER_PAGE_MS = 643_500 / 101;
const SIZES = [0, 1, 999, 1_000, 10_000, 100_000, 1_000_000];

describe('how long a run may take, from the company’s size and Lucca’s rate limit', () => {
  test('the bounds use the Lucca page and rate limit the client uses', () => {
    assert.equal(USERS_PER_PAGE, LUCCA_PAGE_SIZE);
    assert.equal(LUCCA_REQUESTS_PER_MINUTE, (LUCCA_RATE_LIMIT.limit * 60_000) / LUCCA_RATE_LIMIT.windowMs);
  });

  test('a read may take ten times its rate-limit floor, and a company that grew tenfold still reads within it', () => {
    for (const users of SIZES) {
      const bound = readBoundMs(users);
      assert.ok(bound >= 10 * readFloorMs(users), `${users} users: ${bound} ms`);
      assert.ok(bound >= 2 * readFloorMs(10 * users), `${users} users grown tenfold: ${bound} ms`);
    }
  });

  test('a plan or an apply may take ten times the slowest measured, per page staged', () => {
    for (const users of SIZES) {
      const pages = Math.floor(users / USERS_PER_PAGE) + 1;
      assert.ok(workBoundMs(pages) >= 10 * pages * SLOWEST_APPLY_PER_PAGE_MS, `${pages} pages`);
    }
  });

  test('a company of unknown size (its first run) is bounded as a large one', () => {
    assert.equal(readBoundMs(undefined), readBoundMs(UNKNOWN_COMPANY_USERS));
    assert.equal(readBoundMs(null), readBoundMs(UNKNOWN_COMPANY_USERS));
    assert.equal(readBoundMs(Number.NaN), readBoundMs(UNKNOWN_COMPANY_USERS));
    assert.equal(runBoundMs(undefined), runBoundMs(UNKNOWN_COMPANY_USERS));
    assert.equal(expectedPages(-5), expectedPages(UNKNOWN_COMPANY_USERS));
  });

  test('the whole run’s bound holds every step’s, and a 100,000-employee company gives its queue back within hours, not a day', () => {
    for (const users of SIZES) {
      const steps = readBoundMs(users) + workBoundMs(expectedPages(users)) + 2 * STEP_BOUND_MS;
      assert.ok(runBoundMs(users) >= steps, `${users} users`);
    }
    assert.ok(runBoundMs(100_000) < 8 * 3600_000, `${runBoundMs(100_000)} ms`);
    assert.ok(runBoundMs(1_000) < 2 * 3600_000, `${runBoundMs(1_000)} ms`);
  });

  test('bounds read as seconds under two minutes, minutes above', () => {
    assert.equal(formatBound(400), '1 s');
    assert.equal(formatBound(90_000), '90 s');
    assert.equal(formatBound(2 * 3600_000), '120 min');
  });
});
