import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompanyPlanner } from '../../domain/plan-company';
import { blockedPlanError } from '../../domain/failures';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { Guards, MappedLuccaUser, ProfileSnapshot, ProfileStatus, SyncedFields } from '../../domain/types';

const TODAY = '2026-01-15';
const GUARD = { maxPercent: 10, minCount: 1 };
const GUARDS: Guards = { deactivate: GUARD, blank: GUARD, email: GUARD, reactivate: GUARD };

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
    assert.deepEqual(plan.verdict(GUARDS, false), {
      blocked: true,
      fired: [{ guard: 'deactivate', count: 2, limit: 1 }],
      limit: 1,
      activeProfiles: 3,
      deactivations: 2,
    });
    assert.equal(plan.verdict(GUARDS, true).blocked, false, 'the override lets it through');
  });

  test('blanking a field, changing emails and reactivating are each guarded on their own', () => {
    const profiles = [1, 2, 3, 4].map((id) => linked(id));
    const former = [5, 6].map((id) => ({ ...linked(id, 'former'), fields: fields(id, { contractEnd: '2025-01-01' }) }));
    const plan = planner([...profiles, ...former]);
    plan.planPage(0, [
      // A key that lost the birth-date permission: two birth dates read as null.
      user(1, { birthDate: null }),
      user(2, { birthDate: null, email: 'renamed2@acme.fr' }),
      user(3, { email: 'renamed3@acme.fr' }),
      user(4, { contractEnd: null }),
      // Two leavers back on open contracts: reactivations, and a contractEnd going away is no blanking.
      user(5, { contractEnd: null }),
      user(6, { contractEnd: null }),
    ]);
    const verdict = plan.verdict(GUARDS, false);
    assert.deepEqual(verdict.fired, [
      { guard: 'blank', field: 'birthDate', count: 2, limit: 1 },
      { guard: 'email', count: 2, limit: 1 },
      { guard: 'reactivate', count: 2, limit: 1 },
    ]);
    assert.equal(verdict.blocked, true);
    assert.equal(plan.verdict(GUARDS, true).blocked, false, 'the override lets every guard through');
    const roomy = { maxPercent: 10, minCount: 2 };
    assert.equal(plan.verdict({ ...GUARDS, blank: roomy, email: roomy, reactivate: roomy }, false).blocked, false);
  });

  test('an override reviewed on a blocked run lets each guard through up to the count seen, and no further', () => {
    const plan = planner([1, 2, 3, 4].map((id) => linked(id)));
    plan.planPage(0, [user(1, { birthDate: null }), user(2, { birthDate: null }), user(3, { email: 'new3@acme.fr' })]);
    plan.planRemovals();
    // Fired: birthDate blanked on 2, and 1 removal (limit 1: not fired).
    const reviewed = [{ guard: 'blank' as const, field: 'birthDate' as const, count: 2 }];
    assert.equal(plan.verdict(GUARDS, reviewed).blocked, false, 'exactly what was reviewed');
    assert.equal(plan.verdict(GUARDS, [{ ...reviewed[0]!, count: 5 }]).blocked, false, 'less than reviewed');

    const fewer = plan.verdict(GUARDS, [{ ...reviewed[0]!, count: 1 }]);
    assert.equal(fewer.blocked, true, 'more than reviewed is blocked again');
    assert.deepEqual(fewer.fired, [{ guard: 'blank', field: 'birthDate', count: 2, limit: 1, reviewed: 1 }]);
    assert.match(blockedPlanError({ ...fewer }).message, /blank birthDate on 2 profiles \(more than the 1 confirmed\)/);

    // A guard the operator did not see fire, or the same guard on another field, blocks as usual.
    const otherField = plan.verdict(GUARDS, [{ guard: 'blank', field: 'lastName', count: 9 }]);
    assert.equal(otherField.blocked, true);
    assert.deepEqual(otherField.fired[0]?.reviewed, 0);
    assert.equal(plan.verdict(GUARDS, [{ guard: 'deactivate', count: 9 }]).blocked, true);
    assert.equal(plan.verdict(GUARDS, []).blocked, true, 'an override with nothing reviewed overrides nothing');
  });
});
