import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../config/env';
import type { Repositories } from '../../db/mongo';
import type { OperationsDeps } from '../../operations';
import { OperationError } from '../../operations/errors';
import { addExtraField, listLuccaFields, previewExtraField, removeExtraField } from '../../operations/fields';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import { FAKE_LUCCA_HOSTS, forgetCompanies, openStack, stackEnv, type Stack } from './helpers';
import {
  addTestCompany,
  anyway,
  changesOf,
  linkedProfile,
  luccaDate,
  luccaUser,
  profilesOf,
  runSync,
  startWorker,
  type RunningWorker,
} from './sync-kit';

/** Twelve people: more than the guards' minimum of five, so a company-wide blanking is blocked. */
const PEOPLE = 12;

const CATEGORIES = [
  { id: 11, name: 'Cadre' },
  // Decomposed accent and padding: stored NFC and trimmed.
  { id: 12, name: ' Employe\u0301·e ' },
];

/** Person `id` with an HR file: a seniority date, a CSE category (a reference), a site and a pay band. */
function person(id: number, extended: Record<string, unknown> = {}): LuccaRawUser {
  return luccaUser(id, {
    extendedData: {
      e_seniority: luccaDate(`20${String(10 + (id % 10)).padStart(2, '0')}-03-01`),
      e_cseCategory: CATEGORIES[id % 2],
      e_site: id % 3 === 0 ? '' : 'Île de Nantes',
      e_salaryBand: 'B',
      ...extended,
    },
  });
}

const people = (extended: (id: number) => Record<string, unknown> = () => ({})) =>
  Array.from({ length: PEOPLE }, (_, i) => person(i + 1, extended(i + 1)));

/**
 * The stack's repositories, with `meanwhile` run once as the apply starts reading its plan: a
 * platform write landing between a run's plan and its apply, on the real store.
 */
function beforeApply(stack: Stack, meanwhile: () => Promise<void>): Repositories {
  const workingData = stack.repos.workingData;
  let done = false;
  const hooked = new Proxy(workingData, {
    get(target, property) {
      if (property === 'readPlanChunks') {
        return async function* (...args: Parameters<typeof workingData.readPlanChunks>) {
          if (!done) {
            done = true;
            await meanwhile();
          }
          yield* target.readPlanChunks(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { ...stack.repos, workingData: hooked };
}

/**
 * Extra Lucca fields chosen per company, on the real Temporal dev server, FerretDB and the fake
 * Lucca (whose HR file has a section the key cannot consult): read into `lucca.extra`, changed,
 * blanked (blocked), removed with values kept and cleared, a hidden field failing with the
 * permission to grant, and a platform field of the same name left alone.
 */
describe('extra Lucca fields are synced into lucca.extra with the core fields’ rules', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('extra-fields');
    worker = await startWorker(stack, stack.taskQueue, {
      lucca: { timeoutMs: 5_000, rateLimit: null, allowedHosts: FAKE_LUCCA_HOSTS },
    });
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await worker?.stop();
    await stack?.close();
  });

  const sync = async (companyId: string, input = {}) => {
    const run = await runSync(stack, stack.taskQueue, companyId, input);
    return run;
  };

  test('a date and a reference field: synced, changed, blanked (blocked), removed keeping and clearing values', async () => {
    const company = await addTestCompany(stack, people());
    const { companyId } = company;
    companies.push(companyId);
    assert.equal((await sync(companyId)).status, 'succeeded');
    // The platform has its own field named like the key an extra field will use.
    await stack.store.profiles.updateOne({ companyId, 'lucca.userId': 1 }, { $set: { seniority: 'platform: 7 ans' } });

    const listed = await listLuccaFields(deps, { companyId });
    const names = listed.fields.map((f) => f.lucca);
    assert.ok(names.includes('e_seniority') && names.includes('e_cseCategory'), names.join(','));
    assert.ok(!names.includes('e_salaryBand'), 'a field of a section the key cannot consult is not offered');
    assert.equal(listed.fields.find((f) => f.lucca === 'e_site')?.withValue, 8);

    const preview = await previewExtraField(deps, {
      companyId,
      field: { lucca: 'e_seniority', key: 'seniority', type: 'date' },
    });
    assert.deepEqual(
      [preview.users, preview.withValue, preview.empty, preview.unusable, preview.profilesGettingValue],
      [12, 12, 0, 0, 12],
    );
    assert.ok(preview.sample.includes('2011-03-01'), preview.sample.join(','));
    assert.equal(await stack.store.profiles.countDocuments({ companyId, 'lucca.extra': { $exists: true } }), 0);

    await addExtraField(deps, { companyId, field: { lucca: 'e_seniority', key: 'seniority', type: 'date' } });
    await addExtraField(deps, { companyId, field: { lucca: 'e_cseCategory', key: 'category', type: 'reference' } });
    const first = await sync(companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts?.updated, PEOPLE);
    const one = await linkedProfile(stack, companyId, 1);
    assert.deepEqual(one.lucca?.extra, { seniority: '2011-03-01', category: { id: 12, name: 'Employé·e' } });
    assert.equal(
      (one as unknown as { seniority: string }).seniority,
      'platform: 7 ans',
      'the platform field is untouched',
    );
    const asked = stack.lucca.requests(company.tenant).at(-1)?.query.fields ?? '';
    assert.match(asked, /extendedData\[e_seniority,e_cseCategory\]/);
    assert.equal((await sync(companyId)).counts?.updated, 0, 'a second run over the same values writes nothing');

    // Lucca changes two people; the platform edits a third one's seniority.
    stack.lucca.mutateUsers(company.tenant, () =>
      people((id) =>
        id === 1 ? { e_seniority: luccaDate('2009-09-09') } : id === 2 ? { e_cseCategory: CATEGORIES[1] } : {},
      ),
    );
    await stack.store.profiles.updateOne(
      { companyId, 'lucca.userId': 3 },
      { $set: { 'lucca.extra.seniority': '1999-01-01' } },
    );
    const changed = await sync(companyId);
    assert.equal(changed.counts?.updated, 3);
    const byUser = new Map((await changesOf(stack, changed.runId)).map((c) => [c.luccaUserId, c]));
    assert.deepEqual(byUser.get(1)?.fields, { 'extra:seniority': { from: '2011-03-01', to: '2009-09-09' } });
    assert.deepEqual(byUser.get(2)?.fields, {
      'extra:category': { from: { id: 11, name: 'Cadre' }, to: { id: 12, name: 'Employé·e' } },
    });
    assert.deepEqual(
      byUser.get(3)?.reasons.map((r) => r.code),
      ['overwritten-local-edit'],
    );
    assert.equal((await linkedProfile(stack, companyId, 3)).lucca?.extra?.seniority, '2013-03-01');

    // A key that lost the values (all empty): blocked, nothing written.
    stack.lucca.mutateUsers(company.tenant, () => people(() => ({ e_seniority: null })));
    const before = await profilesOf(stack, companyId);
    const blanked = await sync(companyId);
    assert.deepEqual([blanked.status, blanked.error?.code], ['blocked', 'mass-blanking']);
    assert.match(blanked.error?.message ?? '', /blank extra:seniority on 12 profiles/);
    assert.deepEqual(
      (await profilesOf(stack, companyId)).map((p) => p.lucca?.extra),
      before.map((p) => p.lucca?.extra),
    );
    stack.lucca.mutateUsers(company.tenant, () =>
      people((id) =>
        id === 1 ? { e_seniority: luccaDate('2009-09-09') } : id === 2 ? { e_cseCategory: CATEGORIES[1] } : {},
      ),
    );

    // Removed, values kept: no longer asked of Lucca, no longer written, still on the profiles.
    await removeExtraField(deps, { companyId, field: 'category', values: 'keep' });
    stack.lucca.mutateUsers(company.tenant, (users) =>
      users.map((u) => ({ ...u, extendedData: { ...(u.extendedData as object), e_cseCategory: null } })),
    );
    const kept = await sync(companyId);
    assert.equal(kept.status, 'succeeded', JSON.stringify(kept.error));
    assert.doesNotMatch(stack.lucca.requests(company.tenant).at(-1)?.query.fields ?? '', /e_cseCategory/);
    assert.deepEqual((await linkedProfile(stack, companyId, 2)).lucca?.extra?.category, { id: 12, name: 'Employé·e' });

    // Removed, values cleared: a run that blanks them, guarded; applied anyway, they are gone.
    await removeExtraField(deps, { companyId, field: 'e_seniority', values: 'clear' });
    const clearing = await sync(companyId);
    assert.deepEqual([clearing.status, clearing.error?.code], ['blocked', 'mass-blanking']);
    const cleared = await sync(companyId, anyway(clearing));
    assert.equal(cleared.status, 'succeeded', JSON.stringify(cleared.error));
    assert.equal(cleared.counts?.updated, PEOPLE);
    const records = await changesOf(stack, cleared.runId);
    assert.deepEqual(records.find((c) => c.luccaUserId === 1)?.fields, {
      'extra:seniority': { from: '2009-09-09', to: null },
    });
    for (const p of await profilesOf(stack, companyId)) assert.equal(p.lucca?.extra?.seniority, null);
    assert.equal((await sync(companyId)).counts?.updated, 0, 'once cleared, runs plan nothing for it');
  });

  test('a field the key cannot see fails the run, naming it and the permission to grant; nothing is blanked', async () => {
    const company = await addTestCompany(stack, people());
    const { companyId } = company;
    companies.push(companyId);
    await addExtraField(deps, { companyId, field: { lucca: 'e_site', key: 'site', type: 'text' } });
    const first = await sync(companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal((await linkedProfile(stack, companyId, 1)).lucca?.extra?.site, 'Île de Nantes');

    await addExtraField(deps, { companyId, field: { lucca: 'e_salaryBand', key: 'salaryBand', type: 'text' } });
    const hidden = await sync(companyId);
    assert.deepEqual([hidden.status, hidden.error?.code], ['failed', 'lucca-hidden-field']);
    assert.match(hidden.error?.message ?? '', /e_salaryBand/);
    assert.match(hidden.error?.message ?? '', /Consult HR files/);
    assert.doesNotMatch(hidden.error?.message ?? '', /Île|Nantes/, 'no value in the error');
    assert.equal((await linkedProfile(stack, companyId, 1)).lucca?.extra?.site, 'Île de Nantes');

    const refused = await previewExtraField(deps, {
      companyId,
      field: { lucca: 'e_salaryBand', key: 'salaryBand', type: 'text' },
    }).catch((err: unknown) => err);
    assert.equal((refused as OperationError).code, 'lucca-hidden-field');
  });
  test('extra fields are guarded against overwriting like the core ones, and a platform edit landing between plan and apply is reported, not lost', async () => {
    const company = await addTestCompany(stack, people());
    const { companyId } = company;
    companies.push(companyId);
    await addExtraField(deps, { companyId, field: { lucca: 'e_seniority', key: 'seniority', type: 'date' } });
    await addExtraField(deps, { companyId, field: { lucca: 'e_cseCategory', key: 'category', type: 'reference' } });
    assert.equal((await sync(companyId)).status, 'succeeded');

    // Every category swapped at once (a section's field renamed to another's, a key of another
    // tenant): more than the overwrite guard allows, blocked like a mass overwrite of names.
    const swapped = () => people((id) => ({ e_cseCategory: CATEGORIES[(id + 1) % 2] }));
    stack.lucca.mutateUsers(company.tenant, swapped);
    const before = await profilesOf(stack, companyId);
    const overwriting = await sync(companyId);
    assert.deepEqual([overwriting.status, overwriting.error?.code], ['blocked', 'mass-overwrite']);
    assert.match(overwriting.error?.message ?? '', /overwrite extra:category on 12 profiles \(limit 5\)/);
    assert.deepEqual(
      (await profilesOf(stack, companyId)).map((p) => p.lucca?.extra),
      before.map((p) => p.lucca?.extra),
      'nothing written',
    );
    const applied = await sync(companyId, anyway(overwriting));
    assert.equal(applied.status, 'succeeded', JSON.stringify(applied.error));
    assert.equal(applied.counts?.updated, PEOPLE);

    // Lucca moves person 4's seniority; the platform edits the same value after the plan, before
    // the apply. Lucca still wins (the write is not stopped), and the report says it replaced the
    // platform's value, from that value.
    stack.lucca.mutateUsers(company.tenant, () =>
      swapped().map((u) =>
        u.id === 4
          ? { ...u, extendedData: { ...(u.extendedData as object), e_seniority: luccaDate('2005-05-05') } }
          : u,
      ),
    );
    const raceQueue = `${stack.taskQueue}-extra-race`;
    const edited = { edits: 0 };
    const raced = await startWorker(stack, raceQueue, {
      lucca: { timeoutMs: 5_000, rateLimit: null, allowedHosts: FAKE_LUCCA_HOSTS },
      repos: beforeApply(stack, async () => {
        await stack.store.profiles.updateOne(
          { companyId, 'lucca.userId': 4 },
          { $set: { 'lucca.extra.seniority': '1990-01-01' } },
        );
        edited.edits += 1;
      }),
    });
    try {
      const run = await runSync(stack, raceQueue, companyId);
      assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
      assert.equal(edited.edits, 1, 'the platform edit landed between plan and apply');
      assert.equal(run.counts?.updated, 1);
      const [change] = (await changesOf(stack, run.runId)).filter((c) => c.luccaUserId === 4);
      assert.deepEqual(change?.fields, { 'extra:seniority': { from: '1990-01-01', to: '2005-05-05' } });
      assert.deepEqual(
        change?.reasons.map((r) => r.code),
        ['overwritten-local-edit'],
      );
      assert.match(change?.reasons[0]?.message ?? '', /extra field seniority was edited on the platform/);
      assert.equal((await linkedProfile(stack, companyId, 4)).lucca?.extra?.seniority, '2005-05-05');
    } finally {
      await raced.stop();
    }
  });
});
