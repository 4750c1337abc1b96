import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompanyPlanner } from '../../domain/plan-company';
import { blockedPlanError, type GuardReview, type Guards } from '../../domain/guards';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { MappedLuccaUser, ProfileSnapshot, ProfileStatus, SyncedFields } from '../../domain/types';

const TODAY = '2026-01-15';
const GUARD = { maxPercent: 10, minCount: 1 };
const GUARDS: Guards = { deactivate: GUARD, blank: GUARD, email: GUARD, reactivate: GUARD, overwrite: GUARD };

/** An operator's review of blocked run `b1`: per guard key, the Lucca ids it planned. */
const review = (people: Record<string, number[]>): GuardReview => ({
  blockedRunId: 'b1',
  people: new Map(Object.entries(people).map(([key, ids]) => [key, new Set(ids)])),
});

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

function planner(profiles: ProfileSnapshot[], tenant: string | null = null) {
  let next = 0;
  return new CompanyPlanner({
    today: TODAY,
    index: CompanyProfileIndex.of(profiles, tenant),
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
    assert.deepEqual(plan.verdict(GUARDS, null), {
      blocked: true,
      fired: [{ guard: 'deactivate', count: 2, limit: 1 }],
      limit: 1,
      activeProfiles: 3,
      deactivations: 2,
    });
    assert.equal(plan.verdict(GUARDS, review({ deactivate: [2, 3] })).blocked, false, 'the reviewed people pass');
  });

  test('a scoped read tells the absent apart: out of the scope, moved into it under the read, or gone from Lucca', () => {
    const plan = planner([1, 2, 3, 4, 5].map((id) => linked(id)).concat(linked(6, 'former')));
    plan.planPage(0, [user(1)]);
    assert.deepEqual(plan.absentLinked(), [2, 3, 4, 5], 'a former profile needs no lookup');
    const removals = plan.planRemovals(
      new Map([
        [2, 'out-of-scope'],
        [3, 'in-scope'],
        [5, 'out-of-scope'],
      ]),
    );
    assert.deepEqual(
      removals.map((c) => [c.action, c.luccaUserId, c.reasons.map((r) => r.code).join(), Object.keys(c.fields ?? {})]),
      [
        ['deactivate', 2, 'out-of-scope', ['status']],
        ['deactivate', 4, 'removed-from-lucca', ['status']],
        ['deactivate', 5, 'out-of-scope', ['status']],
      ],
    );
    assert.equal(plan.tally.counts.unchanged, 1, 'a user out of scope was not seen either');
    assert.deepEqual(plan.verdict(GUARDS, null).fired, [{ guard: 'deactivate', count: 3, limit: 1 }], 'guarded');
  });

  test('after a scope change, a create, attach or reactivation of someone the previous scope left out says entered-scope', () => {
    let next = 0;
    const plan = new CompanyPlanner({
      today: TODAY,
      index: CompanyProfileIndex.of(
        [linked(1), unlinked(9, 'user2@acme.fr'), linked(3, 'former'), linked(4), linked(5)],
        null,
      ),
      newProfileId: () => `new${++next}`,
      // The previous scope: legal entity 7 only.
      enteredScope: (placement) => placement.legalEntity?.id !== 7,
    });
    const placed = (id: number, entity: number): MappedLuccaUser =>
      ({
        ...user(id),
        placement: { legalEntity: { id: entity, name: `Entité ${entity}` }, department: null },
      }) as MappedLuccaUser;
    plan.planPage(0, [placed(1, 8), placed(2, 8), placed(6, 8), placed(10, 7), user(11)]);
    plan.planPage(1, [placed(3, 8)]);
    const removals = plan.planRemovals(new Map([[4, 'out-of-scope']]));
    assert.equal(removals.length, 2, 'one out of scope, one removed from Lucca');
    const { tally } = plan;
    assert.deepEqual([tally.counts.created, tally.counts.linked, tally.counts.reactivated], [3, 1, 1]);
    // 2 attached, 6 created, 3 reactivated: outside entity 7 before; 10 was inside it, 11 has no
    // placement read, 1 is unchanged: nothing said of them.
    assert.equal(tally.enteredScope, 3);
    assert.equal(tally.outOfScope, 1, 'the removed-from-Lucca one is not counted');
  });

  test('a user back in the scope is reactivated, and one whose contract ended meanwhile is marked back but stays former', () => {
    const away = (id: number, contractEnd: string | null): ProfileSnapshot => ({
      ...linked(id, 'former'),
      fields: fields(id, { contractEnd }),
      lucca: { userId: id, syncedValues: fields(id, { contractEnd }), outOfScopeAt: new Date('2026-01-02T00:00:00Z') },
    });
    const plan = planner([away(1, null), away(2, '2026-01-10'), linked(3, 'former')]);
    const changes = plan.planPage(0, [user(1), user(2, { contractEnd: '2026-01-10' }), user(3)]);
    assert.deepEqual(
      changes.map((c) => [c.luccaUserId, c.action, c.target?.status, c.reasons.map((r) => r.message).join()]),
      [
        [1, 'reactivate', 'active', "the user is back in the company's scope; the profile is reactivated"],
        [2, 'reactivate', 'former', "the user is back in the company's scope; the profile is reactivated"],
        [
          3,
          'reactivate',
          'active',
          'the employee has a current or upcoming contract again; the profile is reactivated',
        ],
      ],
    );
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
    const verdict = plan.verdict(GUARDS, null);
    assert.deepEqual(verdict.fired, [
      { guard: 'blank', field: 'birthDate', count: 2, limit: 1 },
      { guard: 'email', count: 2, limit: 1 },
      { guard: 'reactivate', count: 2, limit: 1 },
    ]);
    assert.equal(verdict.blocked, true);
    const all = review({ 'blank:birthDate': [1, 2], email: [2, 3], reactivate: [5, 6] });
    assert.equal(plan.verdict(GUARDS, all).blocked, false, 'a review of every fired guard lets the plan through');
    const roomy = { maxPercent: 10, minCount: 2 };
    assert.equal(plan.verdict({ ...GUARDS, blank: roomy, email: roomy, reactivate: roomy }, null).blocked, false);
  });

  test('names or dates of linked profiles replaced by other values are guarded per field', () => {
    const plan = planner([1, 2, 3, 4].map((id) => linked(id)));
    plan.planPage(0, [
      // First and last names swapped on two people; a contract start moved on one; a first value set is no overwrite.
      user(1, { firstName: 'Arrou-Vignod', lastName: 'Chloé1' }),
      user(2, { firstName: 'Arrou-Vignod', lastName: 'Chloé2' }),
      user(3, { contractStart: '2015-01-05' }),
    ]);
    assert.deepEqual(plan.verdict(GUARDS, null).fired, [
      { guard: 'overwrite', field: 'firstName', count: 2, limit: 1 },
      { guard: 'overwrite', field: 'lastName', count: 2, limit: 1 },
    ]);
    const error = blockedPlanError(plan.verdict(GUARDS, null));
    assert.equal(error.code, 'mass-overwrite');
    assert.match(error.message, /overwrite firstName on 2 profiles \(limit 1\), overwrite lastName on 2 profiles/);
  });

  test('an override applies the changes of the people the blocked run planned, and blocks again on anyone else', () => {
    const plan = planner([1, 2, 3, 4].map((id) => linked(id)));
    plan.planPage(0, [user(1, { birthDate: null }), user(2, { birthDate: null }), user(3, { email: 'new3@acme.fr' })]);
    plan.planRemovals();
    // Fired: birthDate blanked on users 1 and 2; user 4's removal is one deactivation (limit 1: not fired).
    assert.equal(
      plan.verdict(GUARDS, review({ 'blank:birthDate': [1, 2] })).blocked,
      false,
      'exactly the people reviewed',
    );
    assert.equal(
      plan.verdict(GUARDS, review({ 'blank:birthDate': [1, 2, 7, 8] })).blocked,
      false,
      'some reviewed are gone',
    );

    const other = plan.verdict(GUARDS, review({ 'blank:birthDate': [1, 7] }));
    assert.equal(other.blocked, true, 'as many people, but one is not the one reviewed');
    assert.deepEqual(other.fired, [{ guard: 'blank', field: 'birthDate', count: 2, limit: 1, unreviewed: 1 }]);
    const error = blockedPlanError({ ...other, override: { of: 'b1' } });
    assert.match(error.message, /blank birthDate on 2 profiles \(1 not reviewed\)/);
    assert.match(
      error.message,
      /Run b1 was applied anyway for the people it planned, but 1 change of this plan was not reviewed/,
    );

    // The same people under another guard or field were not reviewed for this one.
    assert.equal(plan.verdict(GUARDS, review({ 'blank:lastName': [1, 2] })).fired[0]?.unreviewed, 2);
    assert.equal(plan.verdict(GUARDS, review({ deactivate: [1, 2] })).blocked, true);
    assert.equal(plan.verdict(GUARDS, review({})).blocked, true, 'an override with nothing reviewed lifts nothing');
  });

  test('the guards count changes to linked profiles only, against the linked profiles that are not former', () => {
    // Forty linked among four hundred imported profiles: the imported ones are no part of the base.
    const imported = Array.from({ length: 400 }, (_, i) => unlinked(1000 + i, `imported${i}@acme.fr`));
    const plan = planner([...Array.from({ length: 40 }, (_, i) => linked(i + 1)), ...imported]);
    plan.planPage(0, []);
    plan.planRemovals();
    const verdict = plan.verdict({ ...GUARDS, deactivate: { maxPercent: 10, minCount: 5 } }, null);
    assert.deepEqual([verdict.activeProfiles, verdict.limit, verdict.blocked], [40, 5, true]);

    // Attaching imported profiles (a first sync) writes Lucca's values over theirs, by design: no guard counts it.
    const first = planner(imported.slice(0, 20));
    first.planPage(
      0,
      imported
        .slice(0, 20)
        .map((p, i) => user(1000 + i, { email: p.fields.email, birthDate: null, contractEnd: '2025-12-31' })),
    );
    assert.deepEqual(first.verdict(GUARDS, null).fired, []);
    assert.equal(first.tally.counts.linked, 20);
  });

  test('a link made under another Lucca tenant is not followed by its id: that id is someone else there', () => {
    const elsewhere: ProfileSnapshot = {
      ...linked(7),
      lucca: { userId: 7, syncedValues: fields(7), tenant: 'https://old.ilucca.net' },
    };
    const legacy = linked(8);
    const plan = planner([elsewhere, legacy], 'https://new.ilucca.net');
    const changes = plan.planPage(0, [
      user(7, { firstName: 'Someone', lastName: 'Else', email: 'someone.else@acme.fr' }),
      user(8, { lastName: 'Durand' }),
      user(70, { email: 'user7@acme.fr' }),
    ]);
    assert.deepEqual(
      changes.map((c) => [c.action, c.luccaUserId, c.profileId]),
      [
        ['create', 7, 'new1'],
        ['update', 8, 'p8'],
        ['link', 70, 'p7'],
      ],
      "user 7 of the new tenant is a new person; the old tenant's profile is attached again by email; a legacy link is the company's",
    );
    assert.deepEqual(plan.planRemovals(), [], 'a profile linked elsewhere is not removed from this tenant');
    assert.equal(plan.verdict(GUARDS, null).activeProfiles, 1);
  });
});
