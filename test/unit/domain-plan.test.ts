import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mapLuccaUser } from '../../domain/map-lucca-user';
import { isDeactivation } from '../../domain/guards';
import { isRemoval, planLuccaUser, planRemoval, rebaseChange, type UserPlanContext } from '../../domain/plan';
import type {
  MappedLuccaUser,
  PlannedChange,
  ProfileSnapshot,
  ProfileStatus,
  ReasonCode,
  SyncedFields,
} from '../../domain/types';

const TODAY = '2026-01-15';

const fields = (overrides: Partial<SyncedFields> = {}): SyncedFields => ({
  firstName: 'John',
  lastName: 'DOE',
  email: 'john.doe@acme.fr',
  birthDate: '1989-12-22',
  contractStart: '2014-09-01',
  contractEnd: null,
  ...overrides,
});

const user = (overrides: Partial<SyncedFields> = {}, luccaUserId = 416): MappedLuccaUser => ({
  kind: 'ok',
  luccaUserId,
  fields: fields(overrides),
  issues: [],
});

/** Goes through the real mapper, so the issues are exactly those production would carry. */
const fromLucca = (overrides: Record<string, unknown>): MappedLuccaUser =>
  mapLuccaUser({
    id: 416,
    firstName: 'John',
    lastName: 'DOE',
    mail: 'john.doe@acme.fr',
    birthDate: '1989-12-22T00:00:00',
    dtContractStart: '2014-09-01T00:00:00',
    dtContractEnd: null,
    ...overrides,
  });

/** A profile linked to Lucca user 416 whose last sync wrote exactly its current values. */
const linkedProfile = (
  overrides: Partial<SyncedFields> = {},
  options: { status?: ProfileStatus; syncedValues?: SyncedFields | null; removedAt?: Date | null } = {},
): ProfileSnapshot => ({
  id: 'p-linked',
  fields: fields(overrides),
  status: options.status ?? 'active',
  lucca: {
    userId: 416,
    syncedValues: options.syncedValues === undefined ? fields(overrides) : options.syncedValues,
    ...(options.removedAt !== undefined ? { removedAt: options.removedAt } : {}),
  },
});

const unlinkedProfile = (
  id: string,
  overrides: Partial<SyncedFields> = {},
  status: ProfileStatus = 'active',
): ProfileSnapshot => ({ id, fields: fields(overrides), status });

/** A profile linked to another Lucca user (417). */
const otherLinked: ProfileSnapshot = {
  id: 'p-other',
  fields: fields({ email: 'shared@acme.fr' }),
  status: 'active',
  lucca: { userId: 417, syncedValues: null },
};

const ctx = (overrides: Partial<UserPlanContext> = {}): UserPlanContext => ({
  today: TODAY,
  linkedProfile: null,
  unlinkedSameEmail: [],
  emailTakenBy: null,
  emailDuplicatedInLucca: false,
  ...overrides,
});

const codes = (change: PlannedChange | null): ReasonCode[] => change?.reasons.map((r) => r.code) ?? [];

function plan(mapped: MappedLuccaUser, context: UserPlanContext): PlannedChange {
  const change = planLuccaUser(mapped, context);
  assert.ok(change, 'expected a change, got null');
  return change;
}

describe('planLuccaUser — a profile already linked by Lucca id', () => {
  test('plans nothing when Lucca and the profile agree', () => {
    assert.equal(planLuccaUser(user(), ctx({ linkedProfile: linkedProfile() })), null);
  });

  test('plans nothing on a re-run when an invalid Lucca date was already stored as empty', () => {
    const profile = linkedProfile({ birthDate: null });
    assert.equal(planLuccaUser(fromLucca({ birthDate: '2023-02-30T00:00:00' }), ctx({ linkedProfile: profile })), null);
  });

  test('plans nothing when a linked user lost their email in Lucca and nothing else changed', () => {
    assert.equal(planLuccaUser(fromLucca({ mail: null }), ctx({ linkedProfile: linkedProfile() })), null);
  });

  test('updates only the changed field and writes the full target', () => {
    const change = plan(user({ lastName: 'DOE-MARTIN' }), ctx({ linkedProfile: linkedProfile() }));
    assert.deepEqual(change, {
      action: 'update',
      luccaUserId: 416,
      profileId: 'p-linked',
      fields: { lastName: { from: 'DOE', to: 'DOE-MARTIN' } },
      target: { fields: fields({ lastName: 'DOE-MARTIN' }), status: 'active' },
      from: { fields: fields(), status: 'active' },
      reasons: [],
    });
  });

  test('updates a future hire whose start date moved, keeping the status upcoming', () => {
    const profile = linkedProfile({ contractStart: '2026-02-01' }, { status: 'upcoming' });
    const change = plan(user({ contractStart: '2026-03-01' }), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, { contractStart: { from: '2026-02-01', to: '2026-03-01' } });
    assert.equal(change.target?.status, 'upcoming');
  });

  test('moves a future hire to active once the start date arrives, with only a status diff', () => {
    const profile = linkedProfile({ contractStart: TODAY }, { status: 'upcoming' });
    const change = plan(user({ contractStart: TODAY }), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, { status: { from: 'upcoming', to: 'active' } });
    assert.equal(isDeactivation(change), false);
  });

  test('deactivates a leaver whose contract ended, with reason contract-ended', () => {
    const change = plan(user({ contractEnd: '2026-01-10' }), ctx({ linkedProfile: linkedProfile() }));
    assert.equal(change.action, 'deactivate');
    assert.deepEqual(change.fields, {
      contractEnd: { from: null, to: '2026-01-10' },
      status: { from: 'active', to: 'former' },
    });
    assert.deepEqual(codes(change), ['contract-ended']);
    assert.equal(change.target?.status, 'former');
    assert.equal(isDeactivation(change), true);
  });

  test('keeps a leaver active on the last day of the contract', () => {
    const change = plan(user({ contractEnd: TODAY }), ctx({ linkedProfile: linkedProfile() }));
    assert.equal(change.action, 'update');
    assert.equal(change.fields?.status, undefined);
  });

  test('deactivates a future hire whose hire was cancelled with an end date in the past', () => {
    const profile = linkedProfile({ contractStart: '2026-02-01' }, { status: 'upcoming' });
    const change = plan(
      user({ contractStart: '2025-12-01', contractEnd: '2025-12-31' }),
      ctx({ linkedProfile: profile }),
    );
    assert.equal(change.action, 'deactivate');
    assert.equal(isDeactivation(change), true);
  });

  test('reactivates a rehired former employee with reason rehired', () => {
    const profile = linkedProfile({ contractStart: '2015-01-01', contractEnd: '2020-06-30' }, { status: 'former' });
    const change = plan(user({ contractStart: '2026-01-05', contractEnd: null }), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'reactivate');
    assert.deepEqual(change.fields, {
      contractStart: { from: '2015-01-01', to: '2026-01-05' },
      contractEnd: { from: '2020-06-30', to: null },
      status: { from: 'former', to: 'active' },
    });
    assert.deepEqual(codes(change), ['rehired']);
    assert.equal(isDeactivation(change), false);
  });

  test('reactivates a former employee rehired from a future date as upcoming', () => {
    const profile = linkedProfile({ contractEnd: '2020-06-30' }, { status: 'former' });
    const change = plan(user({ contractStart: '2026-03-01', contractEnd: null }), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'reactivate');
    assert.deepEqual(change.fields?.status, { from: 'former', to: 'upcoming' });
  });

  test('reactivates a profile removed from Lucca when its user comes back', () => {
    const profile = linkedProfile({}, { status: 'former', removedAt: new Date('2025-12-01T00:00:00Z') });
    const change = plan(user(), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'reactivate');
    assert.deepEqual(change.fields, { status: { from: 'former', to: 'active' } });
    assert.deepEqual(codes(change), ['rehired']);
  });

  test('still plans a reactivate (to clear removedAt) when a removed user comes back as a former employee', () => {
    const ended = { contractEnd: '2025-11-30' };
    const profile = linkedProfile(ended, { status: 'former', removedAt: new Date('2025-12-01T00:00:00Z') });
    const change = plan(user(ended), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'reactivate');
    assert.deepEqual(change.fields, {});
    assert.equal(change.target?.status, 'former');
    assert.deepEqual(codes(change), ['rehired']);
  });

  test('overwrites a value edited on the platform since the last sync and says so', () => {
    const profile = linkedProfile({ firstName: 'Johnny' }, { syncedValues: fields() });
    const change = plan(user(), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, { firstName: { from: 'Johnny', to: 'John' } });
    assert.deepEqual(change.reasons, [
      {
        code: 'overwritten-local-edit',
        message: 'firstName was edited on the platform since the last sync; replaced by the Lucca value',
      },
    ]);
  });

  test('does not call a Lucca-side change a local edit', () => {
    const change = plan(user({ firstName: 'Jean' }), ctx({ linkedProfile: linkedProfile() }));
    assert.deepEqual(codes(change), []);
  });

  test('cannot tell a local edit apart when the profile has no synced values yet', () => {
    const profile = linkedProfile({ firstName: 'Johnny' }, { syncedValues: null });
    const change = plan(user(), ctx({ linkedProfile: profile }));
    assert.deepEqual(codes(change), []);
  });

  test('keeps the current email of a linked user whose Lucca email became invalid, carrying the reason', () => {
    const change = plan(fromLucca({ mail: 'john.doe', lastName: 'Doe' }), ctx({ linkedProfile: linkedProfile() }));
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, { lastName: { from: 'DOE', to: 'Doe' } });
    assert.equal(change.target?.fields.email, 'john.doe@acme.fr');
    assert.deepEqual(codes(change), ['invalid-email']);
  });

  test('keeps the current email of a linked user with no email in Lucca', () => {
    const change = plan(fromLucca({ mail: '', lastName: 'Doe' }), ctx({ linkedProfile: linkedProfile() }));
    assert.equal(change.target?.fields.email, 'john.doe@acme.fr');
    assert.equal(change.fields?.email, undefined);
    assert.deepEqual(codes(change), ['missing-email']);
  });

  test('applies an email change made in Lucca', () => {
    const change = plan(user({ email: 'j.doe@acme.fr' }), ctx({ linkedProfile: linkedProfile() }));
    assert.deepEqual(change.fields, { email: { from: 'john.doe@acme.fr', to: 'j.doe@acme.fr' } });
  });

  const withheldEmails: [string, Partial<UserPlanContext>, ReasonCode][] = [
    ['duplicated in Lucca', { emailDuplicatedInLucca: true }, 'duplicate-email-in-lucca'],
    ['taken by another linked profile', { emailTakenBy: otherLinked }, 'email-taken'],
    ['held by an unlinked profile', { unlinkedSameEmail: [unlinkedProfile('p-signup')] }, 'email-taken'],
  ];
  for (const [title, flags, code] of withheldEmails) {
    test(`still updates a linked profile whose new email is ${title}, leaving the email unchanged`, () => {
      const change = plan(
        user({ email: 'shared@acme.fr', lastName: 'DOE-MARTIN' }),
        ctx({ linkedProfile: linkedProfile(), ...flags }),
      );
      assert.equal(change.action, 'update');
      assert.deepEqual(change.fields, { lastName: { from: 'DOE', to: 'DOE-MARTIN' } });
      assert.equal(change.target?.fields.email, 'john.doe@acme.fr');
      assert.deepEqual(codes(change), [code]);
      if (code === 'email-taken') {
        assert.match(
          change.reasons[0]?.message ?? '',
          /profile p-(other \(linked to Lucca user 417\)|signup \(not linked)/,
        );
      }
    });

    test(`reports a conflict every run when the only change is a new email ${title}`, () => {
      const change = plan(user({ email: 'shared@acme.fr' }), ctx({ linkedProfile: linkedProfile(), ...flags }));
      assert.equal(change.action, 'conflict');
      assert.equal(change.profileId, 'p-linked');
      assert.equal(change.target, undefined);
      assert.deepEqual(codes(change), [code]);
    });
  }

  test('plans nothing when the unchanged email of a linked user is also used by another Lucca user', () => {
    assert.equal(planLuccaUser(user(), ctx({ linkedProfile: linkedProfile(), emailDuplicatedInLucca: true })), null);
  });

  // The issue's example: 22:00 UTC on 30 April is 1 May in Paris. Cut to its date part it would move the
  // birthday a day back; read as null it would blank it.
  for (const [title, bad] of [
    ['not a real date', '0000-01-01T00:00:00'],
    ['a UTC date-time', '1980-04-30T22:00:00Z'],
    ['a date with a +02:00 offset', '1989-12-22T00:00:00+02:00'],
    ['a date at noon', '1989-12-22T12:00:00'],
  ] as const) {
    test(`keeps a stored birth date when Lucca's becomes ${title}, reporting invalid-date as a conflict every run`, () => {
      const change = plan(fromLucca({ birthDate: bad }), ctx({ linkedProfile: linkedProfile() }));
      assert.deepEqual(change, {
        action: 'conflict',
        luccaUserId: 416,
        profileId: 'p-linked',
        reasons: [
          {
            code: 'invalid-date',
            message: 'birthDate is not a plain calendar date; not synced, the profile keeps its value',
          },
        ],
      });
    });
  }

  test('updates the other fields of a record with an invalid date, leaving the stored date as it is', () => {
    const change = plan(
      fromLucca({ birthDate: '1980-04-30T22:00:00Z', lastName: 'DOE-MARTIN' }),
      ctx({ linkedProfile: linkedProfile() }),
    );
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, { lastName: { from: 'DOE', to: 'DOE-MARTIN' } });
    assert.equal(change.target?.fields.birthDate, '1989-12-22');
    assert.deepEqual(codes(change), ['invalid-date']);
  });

  test('keeps a leaver former when Lucca’s end date becomes invalid: the kept end date decides the status', () => {
    const profile = linkedProfile({ contractEnd: '2025-06-30' }, { status: 'former' });
    const change = plan(fromLucca({ dtContractEnd: '2025-06-30T00:00:00+02:00' }), ctx({ linkedProfile: profile }));
    assert.equal(change.action, 'conflict');
    assert.deepEqual(codes(change), ['invalid-date']);
  });

  test('links a profile keeping its own date where Lucca’s is invalid', () => {
    const existing = unlinkedProfile('p-csv', { firstName: 'Jon', birthDate: '1989-12-21' });
    const change = plan(fromLucca({ birthDate: '1989-12-21T23:00:00Z' }), ctx({ unlinkedSameEmail: [existing] }));
    assert.equal(change.action, 'link');
    assert.deepEqual(change.fields, { firstName: { from: 'Jon', to: 'John' } });
    assert.equal(change.target?.fields.birthDate, '1989-12-21');
    assert.deepEqual(codes(change), ['invalid-date']);
  });

  test('orders reasons: status transition, email, dates, local edits', () => {
    const profile = linkedProfile({ firstName: 'Johnny' }, { syncedValues: fields() });
    const change = plan(
      fromLucca({ mail: null, birthDate: 'yesterday', dtContractEnd: '2026-01-01T00:00:00' }),
      ctx({ linkedProfile: profile }),
    );
    assert.deepEqual(codes(change), ['contract-ended', 'missing-email', 'invalid-date', 'overwritten-local-edit']);
  });

  test('reports an unusable record of a linked user as a skip naming the profile', () => {
    const change = plan(fromLucca({ firstName: '  ' }), ctx({ linkedProfile: linkedProfile() }));
    assert.deepEqual(change, {
      action: 'skip',
      luccaUserId: 416,
      profileId: 'p-linked',
      reasons: [{ code: 'missing-name', message: 'firstName is empty; the user is not synced' }],
    });
  });
});

describe('planLuccaUser — a Lucca user not linked yet', () => {
  test('creates a profile when no profile has the email, with every non-null field from null', () => {
    const change = plan(user(), ctx());
    assert.deepEqual(change, {
      action: 'create',
      luccaUserId: 416,
      fields: {
        firstName: { from: null, to: 'John' },
        lastName: { from: null, to: 'DOE' },
        email: { from: null, to: 'john.doe@acme.fr' },
        birthDate: { from: null, to: '1989-12-22' },
        contractStart: { from: null, to: '2014-09-01' },
        status: { from: null, to: 'active' },
      },
      target: { fields: fields(), status: 'active' },
      reasons: [],
    });
  });

  test('creates a future hire as upcoming', () => {
    const change = plan(user({ contractStart: '2026-02-01' }), ctx());
    assert.equal(change.action, 'create');
    assert.equal(change.target?.status, 'upcoming');
  });

  test('creates a profile from an accented record with an upper-case, padded email', () => {
    const change = plan(
      fromLucca({ firstName: 'Chloe\u0301', lastName: "N'Diaye", mail: ' CHLOE.NDIAYE@ACME.FR ' }),
      ctx(),
    );
    assert.equal(change.action, 'create');
    assert.deepEqual(change.target?.fields, {
      ...fields(),
      firstName: 'Chlo\u00e9',
      lastName: "N'Diaye",
      email: 'chloe.ndiaye@acme.fr',
    });
  });

  test('creates a homonym of an existing profile, since matching is by email and never by name', () => {
    const change = plan(user({ email: 'john.doe2@acme.fr' }, 417), ctx());
    assert.equal(change.action, 'create');
    assert.equal(change.luccaUserId, 417);
  });

  test('creates a record with an invalid date, leaving the date empty and carrying the reason', () => {
    const change = plan(fromLucca({ birthDate: '1989-02-30T00:00:00' }), ctx());
    assert.equal(change.action, 'create');
    assert.equal(change.fields?.birthDate, undefined);
    assert.equal(change.target?.fields.birthDate, null);
    assert.deepEqual(codes(change), ['invalid-date']);
  });

  test('links the one unlinked profile with the same email, with diffs against its current values', () => {
    const existing = unlinkedProfile('p-csv', { firstName: 'Jon', birthDate: null, contractStart: null });
    const change = plan(user(), ctx({ unlinkedSameEmail: [existing] }));
    assert.deepEqual(change, {
      action: 'link',
      luccaUserId: 416,
      profileId: 'p-csv',
      fields: {
        firstName: { from: 'Jon', to: 'John' },
        birthDate: { from: null, to: '1989-12-22' },
        contractStart: { from: null, to: '2014-09-01' },
      },
      target: { fields: fields(), status: 'active' },
      from: { fields: fields({ firstName: 'Jon', birthDate: null, contractStart: null }), status: 'active' },
      reasons: [],
    });
  });

  test('links even when the profile already holds exactly the Lucca values', () => {
    const change = plan(user(), ctx({ unlinkedSameEmail: [unlinkedProfile('p-csv')] }));
    assert.equal(change.action, 'link');
    assert.deepEqual(change.fields, {});
  });

  test('links a former employee to their existing profile and deactivates it (contract-ended)', () => {
    const change = plan(user({ contractEnd: '2025-06-30' }), ctx({ unlinkedSameEmail: [unlinkedProfile('p-old')] }));
    assert.equal(change.action, 'link');
    assert.deepEqual(change.fields?.status, { from: 'active', to: 'former' });
    assert.deepEqual(codes(change), ['contract-ended']);
    assert.equal(isDeactivation(change), true);
  });

  test('links an active employee to a profile marked former on the platform and says rehired', () => {
    const change = plan(user(), ctx({ unlinkedSameEmail: [unlinkedProfile('p-old', {}, 'former')] }));
    assert.equal(change.action, 'link');
    assert.deepEqual(change.fields?.status, { from: 'former', to: 'active' });
    assert.deepEqual(codes(change), ['rehired']);
  });

  test('does not create an employee who left before the platform knew them (former-employee)', () => {
    const change = plan(user({ contractEnd: '2025-06-30' }), ctx());
    assert.deepEqual(change, {
      action: 'skip',
      luccaUserId: 416,
      reasons: [
        {
          code: 'former-employee',
          message: 'the contract ended before the platform knew the employee; not created',
        },
      ],
    });
  });

  test('skips an unknown former employee as former-employee rather than as an email problem', () => {
    const formerUser = fromLucca({ mail: null, dtContractEnd: '2020-01-31T00:00:00' });
    assert.deepEqual(codes(planLuccaUser(formerUser, ctx())), ['former-employee']);
    const duplicated = user({ contractEnd: '2020-01-31' });
    assert.deepEqual(codes(planLuccaUser(duplicated, ctx({ emailDuplicatedInLucca: true }))), ['former-employee']);
  });

  const unusableEmails: [string, Record<string, unknown>, ReasonCode][] = [
    ['no email', { mail: null }, 'missing-email'],
    ['an empty email', { mail: '' }, 'missing-email'],
    ['an invalid email', { mail: 'john.doe@' }, 'invalid-email'],
  ];
  for (const [title, overrides, code] of unusableEmails) {
    test(`skips an unlinked user with ${title} (${code}), even if profiles were passed`, () => {
      const change = plan(fromLucca(overrides), ctx({ unlinkedSameEmail: [unlinkedProfile('p-x')] }));
      assert.equal(change.action, 'skip');
      assert.equal(change.profileId, undefined);
      assert.deepEqual(codes(change), [code]);
    });
  }

  test('reports both holders of an email shared in Lucca as conflicts instead of linking', () => {
    const existing = unlinkedProfile('p-shared', { email: 'shared@acme.fr' });
    const context = ctx({ unlinkedSameEmail: [existing], emailDuplicatedInLucca: true });
    for (const luccaUserId of [416, 417]) {
      const change = plan(user({ email: 'shared@acme.fr' }, luccaUserId), context);
      assert.equal(change.action, 'conflict');
      assert.equal(change.profileId, 'p-shared');
      assert.equal(change.target, undefined);
      assert.deepEqual(codes(change), ['duplicate-email-in-lucca']);
    }
  });

  test('reports a conflict instead of creating when another Lucca user’s profile has the email', () => {
    const change = plan(user(), ctx({ emailTakenBy: otherLinked }));
    assert.equal(change.action, 'conflict');
    assert.equal(change.profileId, undefined);
    assert.deepEqual(codes(change), ['email-taken']);
    assert.match(change.reasons[0]?.message ?? '', /belongs to profile p-other \(linked to Lucca user 417\)/);
  });

  test('reports an ambiguous match when several unlinked profiles share the email, linking none', () => {
    const change = plan(user(), ctx({ unlinkedSameEmail: [unlinkedProfile('p-1'), unlinkedProfile('p-2')] }));
    assert.deepEqual(change, {
      action: 'conflict',
      luccaUserId: 416,
      reasons: [{ code: 'ambiguous-match', message: '2 unlinked profiles have this email; nothing linked' }],
    });
  });

  test('reports an ambiguous match for a former employee too, rather than skipping them', () => {
    const change = plan(
      user({ contractEnd: '2025-06-30' }),
      ctx({ unlinkedSameEmail: [unlinkedProfile('p-1'), unlinkedProfile('p-2')] }),
    );
    assert.deepEqual(codes(change), ['ambiguous-match']);
  });

  test('passes a skipped record through with its reasons', () => {
    const change = plan(fromLucca({ id: '416' }), ctx());
    assert.equal(change.action, 'skip');
    assert.equal(change.luccaUserId, null);
    assert.deepEqual(codes(change), ['invalid-record']);
  });
});

describe('planRemoval', () => {
  const removable: [string, ProfileStatus][] = [
    ['an active', 'active'],
    ['an upcoming', 'upcoming'],
  ];
  for (const [title, status] of removable) {
    test(`deactivates ${title} linked profile whose user is gone from Lucca (removed-from-lucca)`, () => {
      const profile = linkedProfile({}, { status });
      const change = planRemoval(profile);
      assert.deepEqual(change, {
        action: 'deactivate',
        luccaUserId: 416,
        profileId: 'p-linked',
        fields: { status: { from: status, to: 'former' } },
        target: { fields: fields(), status: 'former' },
        from: { fields: fields(), status },
        reasons: [
          { code: 'removed-from-lucca', message: 'the user no longer appears in Lucca; the profile becomes former' },
        ],
      });
      assert.ok(change);
      assert.equal(isDeactivation(change), true);
      assert.equal(isRemoval(change), true);
    });
  }

  test('deactivates again a removed profile that was reactivated by hand on the platform', () => {
    const profile = linkedProfile({}, { status: 'active', removedAt: new Date('2025-12-01T00:00:00Z') });
    assert.equal(planRemoval(profile)?.action, 'deactivate');
  });

  const untouched: [string, ProfileSnapshot][] = [
    ['a profile that is already former', linkedProfile({ contractEnd: '2020-01-31' }, { status: 'former' })],
    ['a profile already removed', linkedProfile({}, { status: 'former', removedAt: new Date('2025-12-01T00:00:00Z') })],
    ['an unlinked profile', unlinkedProfile('p-manual')],
  ];
  for (const [title, profile] of untouched) {
    test(`plans nothing for ${title}`, () => assert.equal(planRemoval(profile), null));
  }
});

describe('isDeactivation', () => {
  const change = (action: PlannedChange['action'], from: unknown, to: unknown): PlannedChange => ({
    action,
    luccaUserId: 416,
    fields: { status: { from, to } },
    reasons: [],
  });
  const cases: [string, PlannedChange, boolean][] = [
    ['counts active → former', change('deactivate', 'active', 'former'), true],
    ['counts upcoming → former', change('deactivate', 'upcoming', 'former'), true],
    ['counts a link that makes the profile former', change('link', 'active', 'former'), true],
    ['ignores former → active', change('reactivate', 'former', 'active'), false],
    ['ignores upcoming → active', change('update', 'upcoming', 'active'), false],
    ['ignores a create (nothing to deactivate)', change('create', null, 'active'), false],
    ['ignores a change without status', { action: 'update', luccaUserId: 416, fields: {}, reasons: [] }, false],
    ['ignores a skip', { action: 'skip', luccaUserId: null, reasons: [] }, false],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => assert.equal(isDeactivation(input), expected));
  }
});

describe('rebaseChange — the platform wrote to the profile after the plan', () => {
  test("writes Lucca's values over a platform edit made after the plan, saying so with the platform's value as from", () => {
    const planned = plan(user({ lastName: 'DOE-MARTIN' }), ctx({ linkedProfile: linkedProfile() }));
    const edited = linkedProfile({ firstName: 'Johnny' }, { syncedValues: fields() });

    const change = rebaseChange(planned, edited);

    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, {
      firstName: { from: 'Johnny', to: 'John' },
      lastName: { from: 'DOE', to: 'DOE-MARTIN' },
    });
    assert.deepEqual(change.target, planned.target, "Lucca's values still win");
    assert.deepEqual(codes(change), ['overwritten-local-edit']);
    assert.match(change.reasons[0]!.message, /^firstName was edited on the platform/);
    assert.deepEqual(change.from, { fields: edited.fields, status: 'active' });
  });

  test('takes a planned field the platform changed to as "from", without calling it a local edit when it went back to the synced value', () => {
    // Planned from a local edit (Johnny), which the platform undid before the apply.
    const planned = plan(
      user(),
      ctx({ linkedProfile: linkedProfile({ firstName: 'Johnny' }, { syncedValues: fields() }) }),
    );
    assert.deepEqual(codes(planned), ['overwritten-local-edit']);

    const change = rebaseChange(planned, linkedProfile());

    assert.deepEqual(change.fields, {});
    assert.deepEqual(codes(change), [], 'nothing of the platform is overwritten any more');
  });

  test('keeps the birth date the platform wrote after the plan when Lucca’s is unusable: only Lucca’s usable values win', () => {
    const planned = plan(
      fromLucca({ birthDate: '1980-04-30T22:00:00Z', lastName: 'DOE-MARTIN' }),
      ctx({ linkedProfile: linkedProfile() }),
    );
    assert.deepEqual(planned.unusable, ['birthDate']);
    const edited = linkedProfile({ birthDate: '1989-12-23' }, { syncedValues: fields() });

    const change = rebaseChange(planned, edited);

    assert.deepEqual(change.fields, { lastName: { from: 'DOE', to: 'DOE-MARTIN' } });
    assert.equal(change.target?.fields.birthDate, '1989-12-23');
    assert.deepEqual(codes(change), ['invalid-date']);
  });

  test('keeps calling a value edited on the platform before the plan an overwritten local edit, beside one edited after', () => {
    const synced = fields();
    const planned = plan(
      user(),
      ctx({ linkedProfile: linkedProfile({ firstName: 'Johnny' }, { syncedValues: synced }) }),
    );
    const edited = linkedProfile({ firstName: 'Johnny', lastName: 'Doe' }, { syncedValues: synced });

    const change = rebaseChange(planned, edited);

    assert.deepEqual(change.fields, {
      firstName: { from: 'Johnny', to: 'John' },
      lastName: { from: 'Doe', to: 'DOE' },
    });
    assert.deepEqual(
      change.reasons.map((r) => r.message.split(' ')[0]),
      ['firstName', 'lastName'],
      'both are local edits Lucca overwrites',
    );
  });

  test('keeps the email the platform gave a linked profile whose Lucca email is withheld', () => {
    const planned = plan(
      user({ email: 'shared@acme.fr', lastName: 'DOE-MARTIN' }),
      ctx({ linkedProfile: linkedProfile(), emailTakenBy: otherLinked }),
    );
    assert.equal(planned.target?.fields.email, 'john.doe@acme.fr', 'planned: the profile keeps its email');
    const edited = linkedProfile({ email: 'jd@acme.fr' }, { syncedValues: fields() });

    const change = rebaseChange(planned, edited);

    assert.equal(change.target?.fields.email, 'jd@acme.fr', "the platform's new email is kept, not the stale one");
    assert.deepEqual(change.fields, { lastName: { from: 'DOE', to: 'DOE-MARTIN' } });
    assert.deepEqual(codes(change), ['email-taken']);
  });

  test('keeps every field of a removed user as the platform wrote it; only the status moves', () => {
    const planned = planRemoval(linkedProfile())!;
    const edited = linkedProfile({ lastName: 'Durand' }, { syncedValues: fields() });

    const change = rebaseChange(planned, edited);

    assert.deepEqual(change.target, { fields: edited.fields, status: 'former' });
    assert.deepEqual(change.fields, { status: { from: 'active', to: 'former' } });
    assert.deepEqual(codes(change), ['removed-from-lucca']);
  });

  test('reports the status the platform set as from', () => {
    const planned = plan(user({ lastName: 'DOE-MARTIN' }), ctx({ linkedProfile: linkedProfile() }));

    const change = rebaseChange(planned, linkedProfile({}, { status: 'former' }));

    assert.deepEqual(change.fields?.status, { from: 'former', to: 'active' });
  });

  test('calls a value edited after a link was planned an overwritten local edit (an unlinked profile has no synced values)', () => {
    const planned = plan(user(), ctx({ unlinkedSameEmail: [unlinkedProfile('p-csv', { firstName: 'Jon' })] }));
    assert.deepEqual(codes(planned), []);

    const change = rebaseChange(planned, unlinkedProfile('p-csv', { firstName: 'Jo', lastName: 'Do' }));

    assert.equal(change.action, 'link');
    assert.deepEqual(change.fields, { firstName: { from: 'Jo', to: 'John' }, lastName: { from: 'Do', to: 'DOE' } });
    assert.deepEqual(codes(change), ['overwritten-local-edit', 'overwritten-local-edit']);
  });
});
