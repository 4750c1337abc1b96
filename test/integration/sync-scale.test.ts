import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ProfileDocument } from '../../db/profiles-repository';
import type { MappedLuccaUser } from '../../domain/types';
import type { SyncRunInput } from '../../workflows/messages';
import { openStack, type Stack } from './helpers';
import {
  addTestCompany,
  anyway,
  platformProfile,
  profilesOf,
  runSync,
  staff,
  startWorker,
  type RunningWorker,
  type TestCompany,
} from './sync-kit';

/**
 * Runs that write far more profiles than one write command of the store can hold: FerretDB 1.x
 * deadlocked on an update command of about 100 statements, so each test here makes at least ten
 * times that many writes of one kind in one run. Each file section uses its own database, so the
 * store's per-query scans stay the size of one company.
 */
const EMPLOYEES = 1_200;

describe('runs well past one write command of the store', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('scale');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  afterEach(async () => {
    // Companies never share profiles, but an empty collection keeps every FerretDB scan small.
    await stack.store.profiles.deleteMany({});
  });

  const sync = (companyId: string, input: Partial<SyncRunInput> = {}) =>
    runSync(stack, stack.taskQueue, companyId, input);

  async function firstSync(): Promise<TestCompany> {
    const company = await addTestCompany(stack, staff(EMPLOYEES));
    const first = await sync(company.companyId);
    assert.equal(first.status, 'succeeded');
    assert.equal(first.counts?.created, EMPLOYEES);
    return company;
  }

  function assertOneProfilePerUser(profiles: ProfileDocument[], employees = EMPLOYEES) {
    assert.equal(profiles.length, employees, 'no profile duplicated, none lost');
    const linked = new Set(profiles.map((p) => p.lucca?.userId));
    assert.equal(linked.size, employees, 'each Lucca user linked to exactly one profile');
  }

  test('a first sync attaches every pre-existing (CSV-imported) profile instead of creating any', async () => {
    // Attaching is a batch of updates, rewritten from `rewriteFrom` of them on FerretDB: the
    // company is ten times that (6,000 on PostgreSQL), and never under 1,200.
    const { rewriteFrom } = await stack.repos.profiles.capabilities();
    const employees = Number.isFinite(rewriteFrom) ? Math.max(EMPLOYEES, 10 * rewriteFrom) : EMPLOYEES;
    const users = staff(employees);
    const now = new Date('2026-01-05T09:00:00Z');
    const company = await addTestCompany(stack, users);
    const imported: ProfileDocument[] = users.map((u) =>
      platformProfile(
        company.companyId,
        { firstName: u.firstName!.toUpperCase(), lastName: u.lastName, email: u.mail!.toLowerCase() },
        now,
      ),
    );
    await stack.store.profiles.insertMany(imported);

    const run = await sync(company.companyId);

    assert.equal(run.status, 'succeeded');
    assert.equal(run.counts?.linked, employees);
    assert.equal(run.counts?.created, 0);
    assert.equal(run.profileWrites, employees);
    const profiles = await profilesOf(stack, company.companyId);
    assertOneProfilePerUser(profiles, employees);
    const ids = new Set(imported.map((p) => p._id.toHexString()));
    assert.ok(
      profiles.every((p) => ids.has(p._id.toHexString()) && p.firstName === p.lucca?.syncedValues.firstName),
      'every imported profile is the one linked, with Lucca values',
    );

    const again = await sync(company.companyId);
    assert.equal(again.profileWrites, 0, 'an unchanged re-run writes nothing');
  });

  test('a run where every employee changes email domain updates all 1,200 profiles', async () => {
    const { companyId, tenant } = await firstSync();
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => ({ ...u, mail: u.mail!.replace('@acme.example', '@acme-group.example') })),
    );
    // A real domain change: blocked, then applied anyway by the operator who reviewed it.
    const blocked = await sync(companyId);
    assert.deepEqual([blocked.status, blocked.error?.code], ['blocked', 'mass-email-change']);

    const run = await sync(companyId, anyway(blocked));

    assert.equal(run.status, 'succeeded');
    assert.equal(run.counts?.updated, EMPLOYEES);
    assert.equal(run.profileWrites, EMPLOYEES);
    const profiles = await profilesOf(stack, companyId);
    assertOneProfilePerUser(profiles);
    assert.ok(profiles.every((p) => p.email?.endsWith('@acme-group.example')));
  });

  test('a staged page larger than one document (42 MB) is stored in parts and read back whole', async () => {
    // Lucca values are capped when mapped (255 characters a name), so a real page of 1,000 users
    // is about 1 MB; the 4 MB a staged document may carry is the safety net past that, exercised
    // here ten times over on the store itself: 700 users of two 30,000-character names.
    const staging = stack.repos.workingData;
    const runId = `scale-parts-${Date.now()}`;
    const long = (id: number, letter: string) => `${letter}${id}`.padEnd(30_000, letter.toLowerCase());
    const users: MappedLuccaUser[] = staff(700).map((u) => ({
      kind: 'ok',
      luccaUserId: u.id,
      fields: {
        firstName: long(u.id, 'A'),
        lastName: long(u.id, 'B'),
        email: u.mail ?? null,
        birthDate: null,
        contractStart: null,
        contractEnd: null,
      },
      issues: [],
    }));
    try {
      await staging.stagePage(runId, 0, 0, users);
      await staging.stagePage(runId, 1, 1_000, users.slice(0, 3));
      const parts = await stack.db.collection(`syncStaging.${runId}`).countDocuments({ page: 0 });
      assert.ok(parts >= 10, `a 42 MB page is stored in at least ten parts (${parts})`);

      const pages = [];
      for await (const page of staging.readPages(runId)) pages.push(page);
      assert.deepEqual(
        pages.map((p) => [p.page, p.offset, p.users.length]),
        [
          [0, 0, 700],
          [1, 1_000, 3],
        ],
      );
      assert.deepEqual(pages[0]!.users, users, 'the page reads back whole, in order');
    } finally {
      await staging.clearRun(runId);
    }
  });

  test('a mass removal is blocked without a write, then its override deactivates all 1,100', async () => {
    const { companyId, tenant } = await firstSync();
    const removed = 1_100;
    stack.lucca.mutateUsers(tenant, (all) => all.slice(removed));

    const blocked = await sync(companyId);

    assert.equal(blocked.status, 'blocked');
    assert.equal(blocked.profileWrites, 0);
    assert.equal(blocked.counts?.deactivated, removed);
    let profiles = await profilesOf(stack, companyId);
    assert.ok(
      profiles.every((p) => p.status === 'active'),
      'a blocked plan writes nothing',
    );

    const confirmed = await sync(companyId, anyway(blocked));

    assert.equal(confirmed.status, 'succeeded');
    assert.equal(confirmed.counts?.deactivated, removed);
    assert.equal(confirmed.profileWrites, removed);
    profiles = await profilesOf(stack, companyId);
    assertOneProfilePerUser(profiles);
    const former = profiles.filter((p) => p.status === 'former');
    assert.equal(former.length, removed, 'deactivated, never deleted');
    assert.ok(former.every((p) => p.lucca?.removedAt instanceof Date && p.lucca.userId <= removed));
  });
});
