import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extraFieldProblem,
  extraFieldsProblem,
  extraRequestFields,
  mapLuccaUserWithExtras,
  MAX_EXTRA_FIELDS,
  normaliseExtraValue,
  type ExtraFieldsConfig,
  type ExtraFieldSpec,
} from '../../domain/extra-fields';
import { GuardedChanges, guardVerdict, guardsOf, blockedPlanError } from '../../domain/guards';
import { planLuccaUser, rebaseChange, type UserPlanContext } from '../../domain/plan';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { ExtraValues, MappedLuccaUser, ProfileSnapshot, SyncedFields } from '../../domain/types';

const TODAY = '2026-12-03';
const SENIORITY: ExtraFieldSpec = { lucca: 'e_seniority', key: 'seniority', type: 'date' };
const CATEGORY: ExtraFieldSpec = { lucca: 'e_cseCategory', key: 'cseCategory', type: 'reference' };
const SITE: ExtraFieldSpec = { lucca: 'e_site', key: 'site', type: 'text' };
const CONFIG: ExtraFieldsConfig = { fields: [SENIORITY, CATEGORY, SITE], cleared: [] };

const core: SyncedFields = {
  firstName: 'Chloé',
  lastName: 'Arrou-Vignod',
  email: 'chloe@acme.fr',
  birthDate: '1980-01-02',
  contractStart: '2012-04-01',
  contractEnd: null,
};

const lucca = (extendedData: unknown, more: Record<string, unknown> = {}): unknown => ({
  id: 7,
  firstName: 'Chloé',
  lastName: 'Arrou-Vignod',
  mail: 'chloe@acme.fr',
  birthDate: '1980-01-02T00:00:00',
  dtContractStart: '2012-04-01T00:00:00',
  dtContractEnd: null,
  extendedData,
  ...more,
});

const linked = (extra: ExtraValues | null, syncedExtra: ExtraValues | null = extra): ProfileSnapshot => ({
  id: 'p7',
  fields: { ...core },
  status: 'active',
  lucca: { userId: 7, syncedValues: { ...core }, extra, syncedExtra },
});

const ctx = (profile: ProfileSnapshot | null): UserPlanContext => ({
  today: TODAY,
  linkedProfile: profile,
  unlinkedSameEmail: [],
  emailTakenBy: null,
  emailDuplicatedInLucca: false,
});

const mapped = (extendedData: unknown, config = CONFIG): MappedLuccaUser =>
  mapLuccaUserWithExtras(lucca(extendedData), config);

describe('extra field values are normalised like the core fields', () => {
  const cases: [string, unknown, ExtraFieldSpec['type'], ReturnType<typeof normaliseExtraValue>][] = [
    ['a Lucca date-time becomes a date', '2012-04-01T00:00:00', 'date', { ok: true, value: '2012-04-01' }],
    ['a date with an offset is unusable', '2012-04-01T22:00:00Z', 'date', { ok: false }],
    ['an empty date is null', '', 'date', { ok: true, value: null }],
    ['text is trimmed and NFC', '  I\u0302le de Nantes ', 'text', { ok: true, value: 'Île de Nantes' }],
    ['text past 1,000 characters is unusable', 'x'.repeat(10_000), 'text', { ok: false }],
    ['a number as text', ' 3,5 ', 'number', { ok: true, value: 3.5 }],
    ['not a number', 'trois', 'number', { ok: false }],
    ['a boolean', false, 'boolean', { ok: true, value: false }],
    [
      'a reference keeps id and name',
      { id: 11, name: ' Cadre ', url: 'x' },
      'reference',
      { ok: true, value: { id: 11, name: 'Cadre' } },
    ],
    ['a reference without an id is unusable', { name: 'Cadre' }, 'reference', { ok: false }],
    ['null is null whatever the type', null, 'reference', { ok: true, value: null }],
  ];
  for (const [title, raw, type, expected] of cases) {
    test(title, () => assert.deepEqual(normaliseExtraValue(raw, type), expected));
  }
});

describe('a company’s extra fields are checked before they are saved', () => {
  test('keys never take a core field’s name, and custom fields are e_<name>', () => {
    assert.match(extraFieldProblem({ lucca: 'e_mail', key: 'email', type: 'text' })!, /six core fields/);
    assert.match(extraFieldProblem({ lucca: 'salary', key: 'salary', type: 'text' })!, /e_<name>/);
    assert.match(extraFieldProblem({ lucca: 'e_x', key: 'lucca.extra', type: 'text' })!, /lower-case letter/);
    assert.match(extraFieldProblem({ lucca: 'manager', key: 'manager', type: 'text' })!, /reference field/);
    assert.equal(extraFieldProblem({ lucca: 'manager', key: 'manager', type: 'reference' }), null);
  });

  test(`at most ${MAX_EXTRA_FIELDS} fields: ten times as many are refused`, () => {
    const many = Array.from({ length: MAX_EXTRA_FIELDS * 10 }, (_, i) => ({
      lucca: `e_f${i}`,
      key: `f${i}`,
      type: 'text' as const,
    }));
    assert.match(extraFieldsProblem(many)!, /at most 50/);
    assert.equal(extraFieldsProblem(many.slice(0, MAX_EXTRA_FIELDS)), null);
    assert.match(extraFieldsProblem([SITE, { ...SENIORITY, key: 'site' }])!, /key site/);
  });

  test('custom fields are asked in one extendedData[…], standard ones as Lucca names them', () => {
    assert.deepEqual(extraRequestFields([SENIORITY, { lucca: 'manager', key: 'manager', type: 'reference' }, SITE]), [
      'manager[id,name]',
      'extendedData[e_seniority,e_site]',
    ]);
  });
});

describe('extra fields follow the core fields’ plan rules', () => {
  test('a mapped user carries each extra field; a value not of its type is unusable and reported', () => {
    const user = mapped({ e_seniority: 'bientôt', e_cseCategory: { id: 11, name: 'Cadre' }, e_site: '' });
    assert.equal(user.kind, 'ok');
    if (user.kind !== 'ok') return;
    assert.deepEqual(user.extra, { seniority: null, cseCategory: { id: 11, name: 'Cadre' }, site: null });
    assert.deepEqual(user.unusableExtra, ['seniority']);
    assert.deepEqual(
      user.issues.map((r) => r.code),
      ['invalid-value'],
    );
  });

  test('a Lucca change is an update reported from → to; an unchanged profile plans nothing', () => {
    const held = { seniority: '2012-04-01', cseCategory: { id: 11, name: 'Cadre' }, site: 'Lyon' };
    const same = mapped({
      e_seniority: '2012-04-01T00:00:00',
      e_cseCategory: { id: 11, name: 'Cadre' },
      e_site: 'Lyon',
    });
    assert.equal(planLuccaUser(same, ctx(linked(held))), null);
    const moved = mapped({
      e_seniority: '2013-01-01T00:00:00',
      e_cseCategory: { id: 12, name: 'Employé·e' },
      e_site: 'Lyon',
    });
    const change = planLuccaUser(moved, ctx(linked(held)))!;
    assert.equal(change.action, 'update');
    assert.deepEqual(change.fields, {
      'extra:seniority': { from: '2012-04-01', to: '2013-01-01' },
      'extra:cseCategory': { from: { id: 11, name: 'Cadre' }, to: { id: 12, name: 'Employé·e' } },
    });
    assert.deepEqual(change.target?.extra, {
      seniority: '2013-01-01',
      cseCategory: { id: 12, name: 'Employé·e' },
      site: 'Lyon',
    });
    assert.deepEqual(change.reasons, []);
  });

  test('a platform edit the sync replaces is reported overwritten; an unusable value keeps the profile’s', () => {
    const held = { seniority: '2010-01-01', cseCategory: null, site: 'Lyon' };
    const synced = { seniority: '2012-04-01', cseCategory: null, site: 'Lyon' };
    const change = planLuccaUser(
      mapped({ e_seniority: '2012-04-01T00:00:00', e_cseCategory: null, e_site: { oops: 1 } }),
      ctx(linked(held, synced)),
    )!;
    assert.deepEqual(change.fields, { 'extra:seniority': { from: '2010-01-01', to: '2012-04-01' } });
    assert.equal(change.target?.extra?.site, 'Lyon');
    assert.deepEqual(change.reasons.map((r) => r.code).sort(), ['invalid-value', 'overwritten-local-edit']);
    assert.match(change.reasons.find((r) => r.code === 'overwritten-local-edit')!.message, /extra field seniority/);
  });

  test('blanking an extra field is guarded like a core field', () => {
    const guarded = new GuardedChanges();
    for (let id = 1; id <= 60; id++) {
      const profile = {
        ...linked({ seniority: '2012-04-01', cseCategory: null, site: null }),
        lucca: {
          userId: id,
          syncedValues: { ...core },
          extra: { seniority: '2012-04-01', cseCategory: null, site: null },
        },
      };
      const user = mapLuccaUserWithExtras(
        { ...(lucca({ e_seniority: null, e_cseCategory: null, e_site: null }) as object), id },
        CONFIG,
      );
      const change = planLuccaUser(user, ctx(profile));
      if (change) guarded.add(change);
    }
    const verdict = guardVerdict(guardsOf({}), { linkedNotFormer: 100, linked: 100 }, guarded, null);
    assert.equal(verdict.blocked, true);
    assert.deepEqual(
      verdict.fired.map((h) => [h.guard, h.field, h.count]),
      [['blank', 'extra:seniority', 60]],
    );
    assert.match(blockedPlanError(verdict).message, /blank extra:seniority on 60 profiles/);
    assert.equal(blockedPlanError(verdict).code, 'mass-blanking');
  });

  test('a cleared key is blanked where a profile holds a value, and nothing once it is empty', () => {
    const config: ExtraFieldsConfig = { fields: [], cleared: ['seniority'] };
    const change = planLuccaUser(mapped({}, config), ctx(linked({ seniority: '2012-04-01' })))!;
    assert.deepEqual(change.fields, { 'extra:seniority': { from: '2012-04-01', to: null } });
    assert.equal(planLuccaUser(mapped({}, config), ctx(linked({ seniority: null }))), null);
  });

  test('a field removed with its values kept is neither read nor touched', () => {
    const change = planLuccaUser(
      mapped({ e_site: 'Paris' }, { fields: [SITE], cleared: [] }),
      ctx(linked({ seniority: '2012-04-01', site: 'Lyon' })),
    )!;
    assert.deepEqual(Object.keys(change.fields ?? {}), ['extra:site']);
    assert.deepEqual(change.target?.extra, { site: 'Paris' });
  });

  test('a new profile gets the values there are; a rebased change keeps its extra fields', () => {
    const create = planLuccaUser(mapped({ e_seniority: '2012-04-01T00:00:00', e_site: '' }), ctx(null))!;
    assert.equal(create.action, 'create');
    assert.deepEqual(create.fields?.['extra:seniority'], { from: null, to: '2012-04-01' });
    assert.equal('extra:site' in (create.fields ?? {}), false);
    const update = planLuccaUser(
      mapped({ e_seniority: '2013-01-01T00:00:00' }),
      ctx(linked({ seniority: '2012-04-01' })),
    )!;
    const edited = { ...linked({ seniority: '2012-04-01' }), fields: { ...core, firstName: 'Chloe' } };
    const rebased = rebaseChange(update, edited);
    assert.deepEqual(rebased.fields?.['extra:seniority'], { from: '2012-04-01', to: '2013-01-01' });
    assert.equal(rebased.target?.extra?.seniority, '2013-01-01');
  });

  test('the profile index keeps a profile’s extra fields and what the last sync wrote', () => {
    const index = CompanyProfileIndex.of([
      linked({ seniority: '2012-04-01', cseCategory: { id: 11, name: 'Cadre' } }),
      {
        ...linked({ site: 'Lyon' }, { site: 'Paris' }),
        id: 'p8',
        lucca: { userId: 8, syncedValues: { ...core }, extra: { site: 'Lyon' }, syncedExtra: { site: 'Paris' } },
      },
    ]);
    assert.deepEqual(index.linked(7)?.lucca?.extra, {
      seniority: '2012-04-01',
      cseCategory: { id: 11, name: 'Cadre' },
    });
    assert.deepEqual(index.linked(7)?.lucca?.syncedExtra, {
      seniority: '2012-04-01',
      cseCategory: { id: 11, name: 'Cadre' },
    });
    assert.deepEqual(index.linked(8)?.lucca?.syncedExtra, { site: 'Paris' });
  });
});
