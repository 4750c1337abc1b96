import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompanyPlanner } from '../../domain/plan-company';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { MappedLuccaUser, ProfileSnapshot, ProfileStatus, SyncedFields } from '../../domain/types';

const TODAY = '2026-01-15';
const GUARD = { maxPercent: 10, minCount: 1 };

const fields = (id: number, overrides: Partial<SyncedFields> = {}): SyncedFields => ({
  firstName: `Chloé${id}`,
  lastName: 'Arrou-Vignod',
  email: `user${id}@acme.fr`,
  birthDate: '1989-12-22',
  contractStart: '2014-09-01',
  contractEnd: null,
  ...overrides,
});

const user = (id: number, overrides: Partial<SyncedFields> = {}): MappedLuccaUser => ({
  kind: 'ok',
  luccaUserId: id,
  fields: fields(id, overrides),
  issues: [],
});

const linked = (id: number, status: ProfileStatus = 'active'): ProfileSnapshot => ({
  id: `p${id}`,
  fields: fields(id),
  status,
  lucca: { userId: id, syncedValues: fields(id) },
});

const unlinked = (id: number, email: string): ProfileSnapshot => ({
  id: `u${id}`,
  fields: { ...fields(id), email },
  status: 'active',
});

function planner(profiles: ProfileSnapshot[]) {
  let next = 0;
  return new CompanyPlanner({
    today: TODAY,
    index: CompanyProfileIndex.of(profiles),
    newProfileId: () => `new${++next}`,
  });
}

describe('CompanyPlanner', () => {
  test('plans a company page by page: creates get planned ids, unchanged users plan nothing', () => {
    const plan = planner([linked(1), linked(2)]);
    const first = plan.planPage(0, [user(1), user(2, { lastName: 'N’Diaye' })]);
    const second = plan.planPage(1, [user(3), user(4)]);

    assert.deepEqual(
      [...first, ...second].map((c) => [c.action, c.luccaUserId, c.profileId]),
      [
        ['update', 2, 'p2'],
        ['create', 3, 'new1'],
        ['create', 4, 'new2'],
      ],
    );
    assert.deepEqual(plan.tally.counts, {
      seen: 4,
      created: 2,
      linked: 0,
      updated: 1,
      unchanged: 1,
      deactivated: 0,
      reactivated: 0,
      skipped: 0,
      conflicts: 0,
    });
    assert.equal(plan.tally.writes, 3);
  });

  test('a Lucca user met again on a later page (data moving under offset paging) is planned and counted once', () => {
    const plan = planner([]);
    plan.planPage(0, [user(1), user(2)]);
    const again = plan.planPage(1, [user(2, { lastName: 'read twice' }), user(3)]);

    assert.deepEqual(
      again.map((c) => c.luccaUserId),
      [3],
    );
    assert.equal(plan.tally.counts.seen, 3);
    assert.equal(plan.tally.counts.created, 3);
  });

  test('attaches an unlinked profile by email, and leaves an email carried by two Lucca users alone', () => {
    const plan = planner([unlinked(1, 'user1@acme.fr'), unlinked(2, 'shared@acme.fr')]);
    const changes = plan.planPage(0, [
      user(1),
      user(2, { email: 'shared@acme.fr' }),
      user(3, { email: 'shared@acme.fr' }),
    ]);

    assert.deepEqual(
      changes.map((c) => [c.action, c.luccaUserId, c.profileId, c.reasons.map((r) => r.code)]),
      [
        ['link', 1, 'u1', []],
        ['conflict', 2, 'u2', ['duplicate-email-in-lucca']],
        ['conflict', 3, 'u2', ['duplicate-email-in-lucca']],
      ],
    );
    assert.deepEqual(plan.stalePages(), [], 'both users were on the page planned: nothing to plan again');
  });

  test('an email found shared on a later page makes the first holder’s page stale; re-planned, it counts once', () => {
    const plan = planner([linked(1)]);
    const page0 = [user(1, { lastName: 'moved' }), user(2, { email: 'shared@acme.fr' })];
    assert.deepEqual(
      plan.planPage(0, page0).map((c) => c.action),
      ['update', 'create'],
    );
    plan.planPage(1, [user(3), user(1), user(4, { email: 'shared@acme.fr' })]);
    plan.planPage(2, [user(5)]);
    assert.deepEqual(plan.stalePages(), [0]);

    const again = plan.replanPage(0, page0);
    assert.deepEqual(
      again.map((c) => [c.action, c.luccaUserId]),
      [
        ['update', 1],
        ['conflict', 2],
      ],
    );
    assert.deepEqual(plan.stalePages(), []);
    const { counts } = plan.tally;
    assert.deepEqual(
      [counts.seen, counts.created, counts.updated, counts.conflicts, counts.unchanged],
      [5, 2, 1, 2, 0],
      'user 1 read twice counts once; the re-planned page replaces its first plan in the counts',
    );
  });

  test('re-planning a page leaves out the users first read on another page', () => {
    const plan = planner([]);
    plan.planPage(0, [user(1, { email: 'shared@acme.fr' })]);
    const page1 = [user(1, { email: 'shared@acme.fr' }), user(2), user(3, { email: 'shared@acme.fr' })];
    plan.planPage(1, page1);
    assert.deepEqual(plan.stalePages(), [0], 'user 3 shares the email user 1 brought on page 0');
    assert.deepEqual(
      plan.replanPage(1, page1).map((c) => [c.action, c.luccaUserId]),
      [
        ['create', 2],
        ['conflict', 3],
      ],
    );
  });

  test('plans removals only for linked profiles still active that the read did not contain, and guards them', () => {
    const plan = planner([linked(1), linked(2), linked(3), linked(4, 'former')]);
    plan.planPage(0, [user(1)]);
    const removals = plan.planRemovals();

    assert.deepEqual(
      removals.map((c) => [c.action, c.luccaUserId, c.reasons[0]?.code]),
      [
        ['deactivate', 2, 'removed-from-lucca'],
        ['deactivate', 3, 'removed-from-lucca'],
      ],
    );
    assert.equal(plan.tally.counts.unchanged, 1, 'a removed user was not seen, so it is not an unchanged one');
    assert.deepEqual(plan.verdict(GUARD, false), { blocked: true, limit: 1, activeProfiles: 3, deactivations: 2 });
    assert.equal(plan.verdict(GUARD, true).blocked, false);
  });
});
