import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addToCounts, summariseCounts } from '../../domain/plan';
import { DEFAULT_GUARD, guardLimit } from '../../domain/guards';
import { PlanTally } from '../../domain/plan-company';
import { emptyCounts, type ChangeAction, type PlannedChange, type SyncCounts } from '../../domain/types';

describe('guardLimit', () => {
  // [title, changes, linked active profiles, blocked]
  const cases: [string, number, number, boolean][] = [
    ['blocks all five of a company of five (half of five is 2)', 5, 5, true],
    ['allows two of a company of five', 2, 5, false],
    ['blocks three of a company of five: most of it', 3, 5, true],
    ['blocks the only person of a company of one', 1, 1, true],
    ['allows one of a company of two', 1, 2, false],
    ['allows exactly minCount once half the company is above it', 5, 20, false],
    ['blocks one more than minCount in a small company', 6, 20, true],
    ['blocks anything when the company has no linked profile', 1, 0, true],
    ['allows exactly 10% of linked active profiles', 100, 1000, false],
    ['blocks one more than 10% of linked active profiles', 101, 1000, true],
    ['rounds the percentage down (10% of 59 is 5)', 6, 59, true],
    ['never blocks nothing', 0, 0, false],
  ];
  for (const [title, count, base, blocked] of cases) {
    test(title, () => assert.equal(count > guardLimit(DEFAULT_GUARD, base), blocked));
  }

  test('computes percentages without floating-point loss (29% of 100 is 29)', () => {
    assert.equal(guardLimit({ maxPercent: 29, minCount: 0 }, 100), 29);
  });

  test('a company raising its threshold still never lets most of it through unreviewed', () => {
    assert.equal(guardLimit({ maxPercent: 100, minCount: 0 }, 1000), 500);
    assert.equal(guardLimit({ maxPercent: 0, minCount: 10_000 }, 7), 3);
  });
});

/** Counts a whole plan with the tally the planner keeps. */
function countChanges(changes: PlannedChange[], seen: number): SyncCounts {
  const tally = new PlanTally();
  tally.seen = seen;
  for (const c of changes) tally.add(c);
  return tally.counts;
}

const change = (action: ChangeAction, reasonCode?: 'removed-from-lucca'): PlannedChange => ({
  action,
  luccaUserId: 1,
  reasons: reasonCode ? [{ code: reasonCode, message: 'x' }] : [],
});

describe('PlanTally and addToCounts', () => {
  test('counts each action under its own counter and derives unchanged from the records seen', () => {
    const plan = [
      change('create'),
      change('create'),
      change('link'),
      change('update'),
      change('deactivate'),
      change('reactivate'),
      change('skip'),
      change('conflict'),
    ];
    assert.deepEqual(countChanges(plan, 20), {
      seen: 20,
      created: 2,
      linked: 1,
      updated: 1,
      unchanged: 12,
      deactivated: 1,
      reactivated: 1,
      skipped: 1,
      conflicts: 1,
    });
  });

  test('counts a removal as deactivated without taking it from unchanged, since its user was not seen', () => {
    const counts = countChanges([change('update'), change('deactivate', 'removed-from-lucca')], 10);
    assert.equal(counts.deactivated, 1);
    assert.equal(counts.unchanged, 9);
  });

  test('counts a run that read nothing but removes everyone without a negative unchanged', () => {
    const counts = countChanges(
      [change('deactivate', 'removed-from-lucca'), change('deactivate', 'removed-from-lucca')],
      0,
    );
    assert.deepEqual(counts, { ...emptyCounts(), deactivated: 2 });
  });

  test('a merged tally counts both sides, records seen included', () => {
    const pages = [new PlanTally(), new PlanTally()];
    pages[0]!.seen = 3;
    pages[0]!.add(change('update'));
    pages[1]!.seen = 2;
    pages[1]!.add(change('create'));
    pages[1]!.add(change('deactivate'));
    const total = new PlanTally();
    for (const page of pages) total.merge(page);
    assert.deepEqual(total.counts, { ...emptyCounts(), seen: 5, updated: 1, created: 1, deactivated: 1, unchanged: 2 });
  });

  test('adds one change without mutating the counts it was given', () => {
    const before = emptyCounts();
    const after = addToCounts(before, change('conflict'));
    assert.equal(after.conflicts, 1);
    assert.deepEqual(before, emptyCounts());
  });
});

describe('summariseCounts', () => {
  const counts = (overrides: Partial<SyncCounts>): SyncCounts => ({ ...emptyCounts(), ...overrides });
  const cases: [string, SyncCounts, string][] = [
    [
      'lists the non-zero counts in a fixed order',
      counts({ seen: 100, created: 3, updated: 12, deactivated: 1, unchanged: 84 }),
      'acme: 3 created, 12 updated, 1 deactivated',
    ],
    ['says no changes when nothing moved', counts({ seen: 100, unchanged: 100 }), 'acme: no changes'],
    ['says no changes for an empty company', counts({}), 'acme: no changes'],
    [
      'includes links, reactivations, skips and conflicts',
      counts({ linked: 2, reactivated: 1, skipped: 4, conflicts: 1 }),
      'acme: 2 linked, 1 reactivated, 4 skipped, 1 conflict',
    ],
    ['pluralises conflicts', counts({ conflicts: 2 }), 'acme: 2 conflicts'],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => assert.equal(summariseCounts('acme', input), expected));
  }
});
