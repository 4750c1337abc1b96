import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mapLuccaUser } from '../../domain/map-lucca-user';
import { planLuccaUser, rebaseChange, type UserPlanContext } from '../../domain/plan';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { LuccaPlacement, ProfileSnapshot, SyncedFields } from '../../domain/types';

const TODAY = '2026-01-15';
const SIEGE = { id: 1, name: "Société Lumière d'Île-de-France" };
const SUD = { id: 2, name: 'Établissements Côte-Sud' };
const PRODUIT = { id: 11, name: 'Équipe Produit' };
const RH = { id: 12, name: 'Ressources Humaines' };

const raw = (overrides: Record<string, unknown> = {}) => ({
  id: 416,
  firstName: 'Éloïse',
  lastName: "N'Diaye",
  mail: 'eloise.ndiaye@acme.fr',
  birthDate: '1989-12-22T00:00:00',
  dtContractStart: '2014-09-01T00:00:00',
  dtContractEnd: null,
  legalEntity: SIEGE,
  department: PRODUIT,
  ...overrides,
});

const fields: SyncedFields = {
  firstName: 'Éloïse',
  lastName: "N'Diaye",
  email: 'eloise.ndiaye@acme.fr',
  birthDate: '1989-12-22',
  contractStart: '2014-09-01',
  contractEnd: null,
};

const linked = (placement: LuccaPlacement | undefined): ProfileSnapshot => ({
  id: 'p-1',
  fields: { ...fields },
  status: 'active',
  lucca: { userId: 416, syncedValues: { ...fields }, ...(placement ? { placement } : {}) },
});

const ctx = (profile: ProfileSnapshot | null, unlinked: ProfileSnapshot[] = []): UserPlanContext => ({
  today: TODAY,
  linkedProfile: profile,
  unlinkedSameEmail: unlinked,
  emailTakenBy: null,
  emailDuplicatedInLucca: false,
});

describe('legal entity and department: read with the user, recorded on the profile, written only when they change', () => {
  test('the mapper takes each unit by id with its accented name, NFC; a unit without a usable id is none', () => {
    const user = mapLuccaUser(
      raw({ department: { id: 'x', name: 'Nulle part' }, legalEntity: { id: 1, name: 'Se\u0301ge' } }),
    );
    assert.equal(user.kind, 'ok');
    assert.deepEqual(user.kind === 'ok' && user.placement, {
      legalEntity: { id: 1, name: 'Sége' },
      department: null,
    });
  });

  test('a read that did not ask for the units carries no placement, so nothing is compared', () => {
    const user = mapLuccaUser(raw({ legalEntity: undefined, department: undefined }));
    const { legalEntity: _l, department: _d, ...bare } = raw();
    const without = mapLuccaUser(bare);
    assert.ok(user.kind === 'ok' && user.placement);
    assert.ok(without.kind === 'ok' && !('placement' in without));
    assert.equal(planLuccaUser(without, ctx(linked({ legalEntity: SUD, department: RH }))), null);
  });

  test('an unchanged person in an unchanged unit plans nothing', () => {
    assert.equal(planLuccaUser(mapLuccaUser(raw()), ctx(linked({ legalEntity: SIEGE, department: PRODUIT }))), null);
  });

  const cases: {
    title: string;
    recorded: LuccaPlacement | undefined;
    read: Record<string, unknown>;
    diff: Record<string, { from: unknown; to: unknown }>;
  }[] = [
    {
      title: 'a profile synced before units were recorded gets them (from none)',
      recorded: undefined,
      read: {},
      diff: { legalEntity: { from: null, to: SIEGE.name }, department: { from: null, to: PRODUIT.name } },
    },
    {
      title: 'a move to another department is an update of the department only',
      recorded: { legalEntity: SIEGE, department: PRODUIT },
      read: { department: RH },
      diff: { department: { from: PRODUIT.name, to: RH.name } },
    },
    {
      title: 'a renamed legal entity (same id) updates the name',
      recorded: { legalEntity: { id: 1, name: 'Societe Lumiere' }, department: PRODUIT },
      read: {},
      diff: { legalEntity: { from: 'Societe Lumiere', to: SIEGE.name } },
    },
    {
      title: 'leaving every department records none',
      recorded: { legalEntity: SIEGE, department: PRODUIT },
      read: { department: null },
      diff: { department: { from: PRODUIT.name, to: null } },
    },
  ];
  for (const c of cases) {
    test(c.title, () => {
      const user = mapLuccaUser(raw(c.read));
      const change = planLuccaUser(user, ctx(linked(c.recorded)));
      assert.ok(change, 'a change is planned');
      assert.equal(change.action, 'update');
      assert.deepEqual(change.fields, c.diff);
      assert.deepEqual(change.target?.placement, user.kind === 'ok' ? user.placement : undefined);
      assert.deepEqual(change.reasons, [], 'not a local edit, not guarded');
    });
  }

  test('a person in no unit, on a profile that records none, plans nothing (no write to record "nowhere")', () => {
    assert.equal(
      planLuccaUser(mapLuccaUser(raw({ legalEntity: null, department: null })), ctx(linked(undefined))),
      null,
    );
  });

  test('a create and a link carry the units to write, named in the report', () => {
    const created = planLuccaUser(mapLuccaUser(raw()), ctx(null));
    assert.equal(created?.action, 'create');
    assert.deepEqual(created?.target?.placement, { legalEntity: SIEGE, department: PRODUIT });
    assert.deepEqual(created?.fields?.department, { from: null, to: PRODUIT.name });
    const platform: ProfileSnapshot = { id: 'p-2', fields: { ...fields }, status: 'active' };
    const link = planLuccaUser(mapLuccaUser(raw()), ctx(null, [platform]));
    assert.equal(link?.action, 'link');
    assert.deepEqual(link?.target?.placement, { legalEntity: SIEGE, department: PRODUIT });
  });

  test('a change made again against a platform edit keeps its move', () => {
    const change = planLuccaUser(
      mapLuccaUser(raw({ department: RH })),
      ctx(linked({ legalEntity: SIEGE, department: PRODUIT })),
    )!;
    const edited = { ...linked({ legalEntity: SIEGE, department: PRODUIT }), fields: { ...fields, firstName: 'Elo' } };
    const rebased = rebaseChange(change, edited);
    assert.deepEqual(rebased.fields?.department, { from: PRODUIT.name, to: RH.name });
    assert.deepEqual(rebased.target?.placement, change.target?.placement);
    assert.deepEqual(rebased.fields?.firstName, { from: 'Elo', to: 'Éloïse' });
  });

  test('the packed profile index gives back the recorded placement, and nothing when none is recorded', () => {
    const placement = { legalEntity: SUD, department: { id: 13, name: null } };
    const index = CompanyProfileIndex.of([
      linked(placement),
      { ...linked(undefined), id: 'p-9', lucca: { userId: 9, syncedValues: null } },
    ]);
    assert.deepEqual(index.linked(416)?.lucca?.placement, placement);
    assert.equal(index.linked(9)?.lucca?.placement, undefined);
  });

  test('a profile with both a placement and extra fields packs and unpacks both, each alone too', () => {
    const placement = { legalEntity: SIEGE, department: RH };
    const both: ProfileSnapshot = {
      ...linked(placement),
      lucca: {
        userId: 416,
        syncedValues: { ...fields },
        placement,
        extra: { site: 'Lyon' },
        syncedExtra: { site: 'Paris' },
      },
    };
    const extrasOnly: ProfileSnapshot = {
      ...linked(undefined),
      id: 'p-2',
      lucca: { userId: 2, syncedValues: { ...fields }, extra: { site: 'Nantes' }, syncedExtra: { site: 'Nantes' } },
    };
    const index = CompanyProfileIndex.of([
      both,
      extrasOnly,
      { ...linked(placement), id: 'p-3', lucca: { userId: 3, syncedValues: null, placement } },
    ]);
    assert.deepEqual(index.linked(416)?.lucca?.placement, placement);
    assert.deepEqual(index.linked(416)?.lucca?.extra, { site: 'Lyon' });
    assert.deepEqual(index.linked(416)?.lucca?.syncedExtra, { site: 'Paris' });
    assert.equal(index.linked(2)?.lucca?.placement, undefined);
    assert.deepEqual(index.linked(2)?.lucca?.syncedExtra, { site: 'Nantes' });
    assert.deepEqual(index.linked(3)?.lucca?.placement, placement);
    assert.equal(index.linked(3)?.lucca?.extra, undefined);
  });

  test('a user read with extra fields and units plans a move and an extra change in one update', () => {
    const user = mapLuccaUser(raw({ department: RH }));
    assert.ok(user.kind === 'ok');
    const withExtra = { ...user, extra: { site: 'Lyon' } };
    const profile: ProfileSnapshot = {
      ...linked({ legalEntity: SIEGE, department: PRODUIT }),
      lucca: {
        userId: 416,
        syncedValues: { ...fields },
        placement: { legalEntity: SIEGE, department: PRODUIT },
        extra: { site: 'Paris' },
        syncedExtra: { site: 'Paris' },
      },
    };
    const change = planLuccaUser(withExtra, ctx(profile))!;
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields?.department, { from: PRODUIT.name, to: RH.name });
    assert.deepEqual(change.fields?.['extra:site'], { from: 'Paris', to: 'Lyon' });
    assert.deepEqual(change.target?.placement, { legalEntity: SIEGE, department: RH });
    assert.deepEqual(change.target?.extra, { site: 'Lyon' });
    const rebased = rebaseChange(change, { ...profile, fields: { ...fields, firstName: 'Elo' } });
    assert.deepEqual(rebased.target?.placement, { legalEntity: SIEGE, department: RH });
    assert.deepEqual(rebased.target?.extra, { site: 'Lyon' });
  });
});
