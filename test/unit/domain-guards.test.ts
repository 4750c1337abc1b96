import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  askedToApplyAnyway,
  DEFAULT_GUARD,
  firedGuards,
  GuardedChanges,
  guardSettingPath,
  guardsOf,
  guardVerdict,
  thresholdProblem,
  type GuardKey,
  type Guards,
} from '../../domain/guards';
import type { PlannedChange } from '../../domain/types';

const GUARDS: Guards = guardsOf({ deactivationGuard: { maxPercent: 10, minCount: 1 } });

const deactivation = (luccaUserId: number): PlannedChange => ({
  action: 'deactivate',
  luccaUserId,
  reasons: [],
  fields: { status: { from: 'active', to: 'former' } },
});
const reactivation = (luccaUserId: number): PlannedChange => ({
  action: 'reactivate',
  luccaUserId,
  reasons: [],
  fields: { status: { from: 'former', to: 'active' } },
});

function guarded(changes: PlannedChange[]): GuardedChanges {
  const g = new GuardedChanges();
  for (const c of changes) g.add(c);
  return g;
}

const review = (people: Record<GuardKey, number[]>) => ({
  blockedRunId: 'b1',
  people: new Map(Object.entries(people).map(([key, ids]) => [key, new Set(ids)])),
});

describe('guardsOf and the stored thresholds', () => {
  test('every guard takes the default unless the company set its own, deactivations under their old name', () => {
    const own = { maxPercent: 30, minCount: 2 };
    const guards = guardsOf({ deactivationGuard: own, guards: { overwrite: own } });
    assert.deepEqual(guards, {
      deactivate: own,
      blank: DEFAULT_GUARD,
      email: DEFAULT_GUARD,
      reactivate: DEFAULT_GUARD,
      overwrite: own,
    });
    assert.deepEqual(guardsOf({}).deactivate, DEFAULT_GUARD);
  });

  test('a threshold is written where guardsOf reads it', () => {
    assert.equal(guardSettingPath('deactivate'), 'deactivationGuard');
    assert.equal(guardSettingPath('email'), 'guards.email');
    const own = { maxPercent: 50, minCount: 3 };
    for (const kind of ['deactivate', 'blank', 'email', 'reactivate', 'overwrite'] as const) {
      // Sets the threshold at its path in a plain object, as MongoDB's $set does.
      const sync: Record<string, unknown> = { deactivationGuard: DEFAULT_GUARD };
      const [head, tail] = guardSettingPath(kind).split('.') as [string, string | undefined];
      if (tail) sync[head] = { [tail]: own };
      else sync[head] = own;
      assert.deepEqual(guardsOf(sync)[kind], own, kind);
    }
  });

  test('refuses a threshold that is not a whole percentage or count, saying which', () => {
    assert.equal(thresholdProblem({ maxPercent: 0, minCount: 0 }), null);
    assert.equal(thresholdProblem({ maxPercent: 100, minCount: 10_000 }), null);
    assert.match(thresholdProblem({ maxPercent: 101, minCount: 5 }) ?? '', /maxPercent .* got 101/);
    assert.match(thresholdProblem({ maxPercent: 2.5, minCount: 5 }) ?? '', /maxPercent/);
    assert.match(thresholdProblem({ maxPercent: 10, minCount: -1 }) ?? '', /minCount .* got -1/);
    assert.match(thresholdProblem({ maxPercent: 10, minCount: Number.NaN }) ?? '', /minCount/);
  });
});

describe('guardVerdict', () => {
  test('blocks past the limit and records what the deactivation guard counted, against which base', () => {
    const verdict = guardVerdict(
      GUARDS,
      { linkedNotFormer: 30, linked: 40 },
      guarded([1, 2, 3, 4].map(deactivation)),
      null,
    );
    assert.deepEqual(verdict, {
      blocked: true,
      fired: [{ guard: 'deactivate', count: 4, limit: 3 }],
      deactivations: 4,
      limit: 3,
      activeProfiles: 30,
    });
    const within = guardVerdict(
      GUARDS,
      { linkedNotFormer: 30, linked: 40 },
      guarded([1, 2, 3].map(deactivation)),
      null,
    );
    assert.equal(within.blocked, false);
    assert.deepEqual(within.fired, []);
  });

  test('measures reactivations against every linked profile, the former ones being who comes back', () => {
    // 10 linked, 2 not former: 4 reactivations are within 5 (half of 10) but would be past 1 (half of 2).
    const verdict = guardVerdict(
      GUARDS,
      { linkedNotFormer: 2, linked: 10 },
      guarded([1, 2, 3, 4].map(reactivation)),
      null,
    );
    assert.equal(verdict.blocked, false);
    assert.equal(verdict.limit, 1, "the deactivation guard's own limit is still measured against the active ones");
  });

  test('with a review, lets a fired guard through only when every change it counts was reviewed', () => {
    const plan = guarded([1, 2, 3, 4].map(deactivation));
    const bases = { linkedNotFormer: 30, linked: 30 };
    const reviewed = guardVerdict(GUARDS, bases, plan, review({ deactivate: [1, 2, 3, 4, 5] }));
    assert.equal(reviewed.blocked, false);
    assert.deepEqual(reviewed.fired, [{ guard: 'deactivate', count: 4, limit: 3, unreviewed: 0 }]);
    const other = guardVerdict(GUARDS, bases, plan, review({ deactivate: [1, 2, 9, 10] }));
    assert.equal(other.blocked, true);
    assert.equal(other.fired[0]?.unreviewed, 2, 'the two people nobody reviewed');
    assert.equal(guardVerdict(GUARDS, bases, plan, review({ email: [1, 2, 3, 4] })).blocked, true, 'another guard');
  });
});

describe('firedGuards: the one reader of the guard fields every version stored', () => {
  test('reads the guards a run recorded', () => {
    const fired = [
      { guard: 'blank' as const, field: 'birthDate' as const, count: 9, limit: 3 },
      { guard: 'deactivate' as const, count: 4, limit: 3 },
    ];
    assert.deepEqual(firedGuards({ fired, deactivations: 4, limit: 3, activeProfiles: 30 }), fired);
  });

  test("reads a run planned before there were several guards as its one guard, the deactivations'", () => {
    assert.deepEqual(firedGuards({ deactivations: 40, limit: 10, activeProfiles: 100 }), [
      { guard: 'deactivate', count: 40, limit: 10 },
    ]);
  });

  test('finds no guard on a run not planned yet', () => {
    assert.deepEqual(firedGuards(null), []);
    assert.deepEqual(firedGuards(undefined), []);
  });
});

describe('askedToApplyAnyway: the override fields every version stored on a run', () => {
  test('a run applying a blocked run anyway names it', () => {
    assert.equal(askedToApplyAnyway({ overrideOf: 'b1' }), true);
    assert.equal(askedToApplyAnyway({}), false);
  });

  test('a run of an earlier version carried the bare flag instead, true or false', () => {
    assert.equal(askedToApplyAnyway({ allowMassDeactivation: true }), true);
    assert.equal(askedToApplyAnyway({ allowMassDeactivation: false }), false);
  });
});
