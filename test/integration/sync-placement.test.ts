import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { moveUsers, renameOrgUnit, type LuccaRawUser } from '../../dev-tools/fake-lucca';
import { FAKE_LUCCA_HOSTS, openStack, type Stack } from './helpers';
import {
  addTestCompany,
  changesOf,
  linkedProfile,
  luccaUser,
  profilesOf,
  runSync,
  startWorker,
  updatedStamps,
  type RunningWorker,
  type TestCompany,
} from './sync-kit';

/** Pages of 50: a company of a few hundred is read, planned and applied in several pages and chunks. */
const PAGE_SIZE = 50;

const ENTITIES = [
  { id: 1, name: "Société Lumière d'Île-de-France" },
  { id: 2, name: 'Établissements Côte-Sud' },
];
const DEPARTMENTS = [
  { id: 11, name: 'Équipe Produit' },
  { id: 12, name: 'Ressources Humaines' },
  { id: 13, name: 'Comptabilité & Contrôle de gestion' },
];

/** Employee `id` in legal entity `id % 2` and department `id % 3`; every tenth one in none (Lucca sends null). */
function placed(id: number): LuccaRawUser {
  if (id % 10 === 0) return luccaUser(id, { legalEntity: null, department: null });
  const legalEntity = ENTITIES[id % 2]!;
  const department = DEPARTMENTS[id % 3]!;
  return luccaUser(id, {
    legalEntityId: legalEntity.id,
    legalEntity: { ...legalEntity },
    departmentId: department.id,
    department: { ...department },
  });
}

/** What the second test renames entity 2 to. */
const renamed = { id: 2, name: 'Établissements Côte-Sud & Corse' };

const unitOf = (u: { id: number; name: string } | null | undefined) => (u ? { id: u.id, name: u.name } : null);

/** Each linked profile's Lucca id with the units it records, as the console's list reads them. */
const recorded = async (stack: Stack, companyId: string) =>
  new Map(
    (await profilesOf(stack, companyId)).map((p) => [
      p.lucca!.userId,
      { legalEntity: p.lucca?.legalEntity, department: p.lucca?.department },
    ]),
  );

describe("a sync records each person's Lucca legal entity and department, and writes them only when they change", () => {
  let stack: Stack;
  let worker: RunningWorker;
  let company: TestCompany;
  const users = Array.from({ length: 200 }, (_, i) => placed(i + 1));

  before(async () => {
    stack = await openStack('placement');
    worker = await startWorker(stack, stack.taskQueue, {
      lucca: { timeoutMs: 2_000, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS },
    });
    company = await addTestCompany(stack, users);
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  test('first sync: every profile records its units (accented names, none where Lucca has none); an unchanged re-run writes nothing', async () => {
    const first = await runSync(stack, stack.taskQueue, company.companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts?.created, users.length);
    assert.equal(first.profileWrites, users.length, 'one write per employee: the units ride with the create');
    const byId = await recorded(stack, company.companyId);
    for (const user of users) {
      assert.deepEqual(
        byId.get(user.id),
        { legalEntity: unitOf(user.legalEntity), department: unitOf(user.department) },
        `Lucca user ${user.id}`,
      );
    }

    const stamps = updatedStamps(await profilesOf(stack, company.companyId));
    const again = await runSync(stack, stack.taskQueue, company.companyId);
    assert.equal(again.status, 'succeeded');
    assert.equal(again.profileWrites, 0);
    assert.equal(again.counts?.updated, 0);
    assert.deepEqual(updatedStamps(await profilesOf(stack, company.companyId)), stamps, 'no profile rewritten');
  });

  test('a move updates the mover, a renamed entity updates its people (name only), and nobody else is written', async () => {
    const mover = 7; // entity 2, department 12 (7 % 3 = 1)
    stack.lucca.mutateUsers(company.tenant, (all) =>
      renameOrgUnit(moveUsers(all, [mover], { department: DEPARTMENTS[2] }), 'legalEntity', renamed),
    );
    const inRenamed = users.filter((u) => u.legalEntity?.id === 2).map((u) => u.id);
    const before = await profilesOf(stack, company.companyId);

    const run = await runSync(stack, stack.taskQueue, company.companyId);
    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    assert.equal(run.counts?.updated, inRenamed.length, 'the mover is one of the renamed entity');
    assert.equal(run.profileWrites, inRenamed.length);

    const changes = await changesOf(stack, run.runId);
    const moved = changes.find((c) => c.luccaUserId === mover);
    assert.deepEqual(moved?.fields, {
      legalEntity: { from: ENTITIES[1]!.name, to: renamed.name },
      department: { from: DEPARTMENTS[1]!.name, to: DEPARTMENTS[2]!.name },
    });
    const other = changes.find((c) => c.luccaUserId === 9);
    assert.deepEqual(other?.fields, { legalEntity: { from: ENTITIES[1]!.name, to: renamed.name } });

    const profile = await linkedProfile(stack, company.companyId, mover);
    assert.deepEqual(profile.lucca?.department, DEPARTMENTS[2]);
    assert.deepEqual(profile.lucca?.legalEntity, renamed);
    const untouched = before.filter((p) => !inRenamed.includes(p.lucca!.userId));
    const after = updatedStamps(await profilesOf(stack, company.companyId));
    for (const p of untouched) assert.equal(after.get(p._id.toHexString()), p.updatedAt.getTime());
  });

  test('profiles synced before units were recorded get them on the next run, once', async () => {
    const older = [1, 2, 3, 4, 5];
    await stack.store.profiles.updateMany(
      { companyId: company.companyId, 'lucca.userId': { $in: older } },
      { $unset: { 'lucca.legalEntity': '', 'lucca.department': '' } },
    );
    const run = await runSync(stack, stack.taskQueue, company.companyId);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.counts?.updated, older.length);
    for (const id of older) {
      const profile = await linkedProfile(stack, company.companyId, id);
      const entity = users[id - 1]!.legalEntity;
      assert.deepEqual(profile.lucca?.legalEntity, entity?.id === 2 ? renamed : unitOf(entity), `Lucca user ${id}`);
    }
    const quiet = await runSync(stack, stack.taskQueue, company.companyId);
    assert.equal(quiet.profileWrites, 0);
  });

  test('an incremental run records the units of the users it reads: a move seen in a partial read is written', async () => {
    const mover = 11; // entity 2 (renamed above), department 13 (11 % 3 = 2)
    stack.lucca.mutateUsers(company.tenant, (all) =>
      moveUsers(all, [mover], { legalEntity: ENTITIES[0], department: DEPARTMENTS[0] }),
    );
    const run = await runSync(stack, stack.taskQueue, company.companyId, { trigger: 'schedule', kind: 'incremental' });
    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    assert.equal(run.kind, 'incremental');
    assert.ok((run.counts?.seen ?? 0) < users.length, `a partial read (${run.counts?.seen} users)`);
    assert.equal(run.profileWrites, 1, 'the mover alone');
    const changes = await changesOf(stack, run.runId);
    assert.deepEqual(changes.find((c) => c.luccaUserId === mover)?.fields, {
      legalEntity: { from: renamed.name, to: ENTITIES[0]!.name },
      department: { from: DEPARTMENTS[2]!.name, to: DEPARTMENTS[0]!.name },
    });
    const profile = await linkedProfile(stack, company.companyId, mover);
    assert.deepEqual(profile.lucca?.legalEntity, ENTITIES[0]);
    assert.deepEqual(profile.lucca?.department, DEPARTMENTS[0]);
  });
});
