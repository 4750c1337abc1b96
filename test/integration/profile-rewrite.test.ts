import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { BSON, ObjectId } from 'mongodb';
import { createActivities } from '../../activities';
import { MAX_REWRITE_FILTER_BYTES, type ProfileDocument } from '../../db/profiles-repository';
import { INSERT_BATCH } from '../../dev-tools/stack/stack';
import type { ApplicableChange } from '../../db/profiles-repository';
import type { SyncedFields } from '../../domain/types';
import { activityDeps, openStack, type Stack } from './helpers';

const COMPANY = 'rewrite-co';
const NOW = new Date('2026-06-15T08:00:00Z');
const TENANT = 'https://rewrite-co.ilucca.net';

const fields = (i: number, overrides: Partial<SyncedFields> = {}): SyncedFields => ({
  firstName: `Inès${i}`,
  lastName: `Moreau${i}`,
  email: `ines${i}@acme.example`,
  birthDate: '1988-03-04',
  contractStart: '2021-01-04',
  contractEnd: null,
  ...overrides,
});

/** A profile as a staff import leaves it: unlinked, with a field of the platform's own. */
const imported = (i: number): ProfileDocument & { phone: string } => ({
  _id: new ObjectId(),
  companyId: COMPANY,
  ...fields(i, { firstName: `typo${i}` }),
  status: 'active',
  phone: `+33 6 00 00 ${String(i).padStart(4, '0')}`,
  createdAt: NOW,
  updatedAt: NOW,
});

const link = (profile: ProfileDocument, userId: number): ApplicableChange => ({
  action: 'link',
  luccaUserId: userId,
  profileId: profile._id.toHexString(),
  target: { fields: fields(userId), status: 'active' },
  reasons: [],
});

describe('batches of profile updates, rewritten (FerretDB, large batches) or one by one', () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('rewrite');
  });

  after(async () => {
    await stack?.close();
  });

  async function importCompany(count: number) {
    await stack.store.profiles.deleteMany({ companyId: COMPANY });
    const profiles = Array.from({ length: count }, (_, i) => imported(i + 1));
    await stack.store.profiles.insertMany(profiles);
    const changes = profiles.map((p, i) => link(p, i + 1));
    return { profiles, changes };
  }

  const read = async () =>
    (await stack.store.profiles.find({ companyId: COMPANY }).toArray()) as (ProfileDocument & {
      phone?: string;
    })[];

  test('a rewrite links every profile and keeps the fields sync does not own', async () => {
    const { changes } = await importCompany(150);
    const { updates } = stack.repos.profiles.plannedWrites(COMPANY, changes, NOW, TENANT);
    const { entries } = await stack.repos.profiles.readForRewrite(COMPANY, updates);
    assert.equal(entries.length, 150);

    assert.equal((await stack.repos.profiles.rewrite(entries)).written, 150);

    const after = await read();
    assert.equal(after.length, 150, 'nothing lost, nothing doubled');
    for (const p of after) {
      const userId = p.lucca?.userId;
      assert.ok(userId, 'linked');
      assert.equal(p.firstName, `Inès${userId}`);
      assert.equal(p.phone, `+33 6 00 00 ${String(userId).padStart(4, '0')}`, 'the platform’s own field is kept');
      assert.equal(p.createdAt.getTime(), NOW.getTime());
    }
  });

  test('a rewrite that stopped after its delete is completed from its journal when the run finishes', async () => {
    const { changes } = await importCompany(120);
    const runId = `run-${new ObjectId().toHexString()}`;
    const { updates } = stack.repos.profiles.plannedWrites(COMPANY, changes, NOW, TENANT);
    const { entries } = await stack.repos.profiles.readForRewrite(COMPANY, updates);
    await stack.repos.workingData.journal(runId, entries);
    // The crash: the profiles are deleted, their new versions never inserted.
    await stack.store.profiles.deleteMany({ companyId: COMPANY });
    await stack.repos.syncRuns.start({
      companyId: COMPANY,
      runId,
      trigger: 'manual',
      requestedBy: null,
      dryRun: false,
      workflowId: 'w',
      temporalRunId: 'r',
      now: NOW,
    });

    const activities = createActivities(activityDeps(stack));
    await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(() =>
      activities.finishSyncRun({ companyId: COMPANY, runId, status: 'failed', error: null, profileWrites: 0 }),
    );

    const after = await read();
    assert.equal(after.length, 120, 'every profile is back');
    assert.ok(after.every((p) => p.lucca && p.firstName === `Inès${p.lucca.userId}` && p.phone));
    assert.deepEqual(await stack.repos.workingData.readJournal(runId), [], 'the journal is gone once completed');
  });

  test('a new version the store refuses is put back as it was, and not counted', async () => {
    const { profiles, changes } = await importCompany(110);
    const { updates } = stack.repos.profiles.plannedWrites(COMPANY, changes, NOW, TENANT);
    const { entries } = await stack.repos.profiles.readForRewrite(COMPANY, updates);
    // Meanwhile another profile took Lucca user 7 (one profile per Lucca user and company).
    const squatter = {
      ...imported(999),
      lucca: { userId: 7, linkedAt: NOW, lastSeenAt: NOW, syncedValues: fields(7) },
    };
    await stack.store.profiles.insertOne(squatter);

    const rewritten = await stack.repos.profiles.rewrite(entries);
    assert.equal(rewritten.written, 109);
    assert.deepEqual(
      rewritten.refused.map((e) => e.before._id.toHexString()),
      [profiles[6]!._id.toHexString()],
      'the refused one is returned, for the report',
    );

    const after = await read();
    assert.equal(after.length, 111, 'the 110 imported profiles and the other one');
    const seventh = after.find((p) => p._id.equals(profiles[6]!._id));
    assert.ok(seventh, 'the refused profile is still there');
    assert.equal(seventh.lucca, undefined, 'as it was: unlinked');
    assert.equal(seventh.firstName, 'typo7');
  });

  test(
    'a rewrite of profiles ten times past what one delete may name goes in deletes the store takes, and one larger than that alone is updated the plain way',
    { timeout: 600_000 },
    async () => {
      // The platform keeps large fields of its own (a photo): 100 profiles of 850 KB are 85 MB
      // of documents the rewrite's delete names, ten times `MAX_REWRITE_FILTER_BYTES` (a command
      // holds 16 MB); one of 9 MB is past it alone.
      await stack.store.profiles.deleteMany({ companyId: COMPANY });
      const photo = (kb: number) => 'x'.repeat(kb * 1024);
      const profiles = Array.from({ length: 101 }, (_, i) => ({
        ...imported(i + 1),
        photo: photo(i === 100 ? 9 * 1024 : 850),
      }));
      const bytes = profiles.reduce((sum, p) => sum + BSON.calculateObjectSize(p), 0);
      assert.ok(bytes > 10 * MAX_REWRITE_FILTER_BYTES, `${bytes} bytes of profiles`);
      for (const p of profiles) await stack.store.profiles.insertOne(p);
      const { updates } = stack.repos.profiles.plannedWrites(
        COMPANY,
        profiles.map((p, i) => link(p, i + 1)),
        NOW,
        TENANT,
      );

      const { entries } = await stack.repos.profiles.readForRewrite(COMPANY, updates);
      const rewritten = await stack.repos.profiles.rewrite(entries);

      assert.equal(rewritten.written, 100);
      assert.deepEqual(
        rewritten.left.map((id) => id.toHexString()),
        [profiles[100]!._id.toHexString()],
        'the profile too large for a delete is left',
      );
      let plain = 0;
      for await (const outcome of stack.repos.profiles.updateEach(
        COMPANY,
        updates.filter((u) => u._id.equals(profiles[100]!._id)),
      )) {
        plain += outcome.written;
      }
      assert.equal(plain, 1);
      const after = (await stack.store.profiles.find({ companyId: COMPANY }).toArray()) as (ProfileDocument & {
        photo?: string;
      })[];
      assert.equal(after.length, 101, 'nothing lost, nothing doubled');
      assert.ok(after.every((p) => p.lucca?.userId && p.firstName === `Inès${p.lucca.userId}`));
      assert.ok(
        after.every((p) => p.photo?.length === (p._id.equals(profiles[100]!._id) ? 9 * 1024 : 850) * 1024),
        'every photo kept',
      );
    },
  );

  test(
    'updated one by one, 1,000 updates go in commands the store can take (ten times past its stall)',
    { timeout: 300_000 },
    async () => {
      // The path of batches under `rewriteFrom`, and of every batch on MongoDB. FerretDB stalled
      // on one command of about 100 update statements; `updateEach` sends `maxUpdatesPerCommand`
      // (10) at a time. A stall would hang here until the timeout fails the test.
      const { changes } = await importCompany(1_000);
      const { updates } = stack.repos.profiles.plannedWrites(COMPANY, changes, NOW, TENANT);

      let written = 0;
      for await (const outcome of stack.repos.profiles.updateEach(COMPANY, updates)) written += outcome.written;

      assert.equal(written, 1_000);
      const after = await read();
      assert.equal(after.length, 1_000, 'nothing lost, nothing doubled');
      assert.ok(after.every((p) => p.lucca?.userId && p.firstName === `Inès${p.lucca.userId}`));
    },
  );

  test(
    'creates ten times past the store’s insert batch are written, and a refused one in three batches is reported',
    { timeout: 300_000 },
    async () => {
      // FerretDB writes an insertMany as one SQL insert per INSERT_BATCH documents, and retries a
      // batch that failed one document at a time. 10,000 creates in one command; the first, the
      // middle and the last Lucca users are linked already (each in a different batch), so the
      // unique index refuses them.
      const count = 10 * INSERT_BATCH;
      await stack.store.profiles.deleteMany({ companyId: COMPANY });
      const taken = [1, count / 2 + 1, count];
      const holders = taken.map((userId) => ({
        ...imported(userId),
        lucca: { userId, linkedAt: NOW, lastSeenAt: NOW, syncedValues: fields(userId), tenant: TENANT },
      }));
      await stack.store.profiles.insertMany(holders);
      const changes: ApplicableChange[] = Array.from({ length: count }, (_, i) => ({
        action: 'create',
        luccaUserId: i + 1,
        profileId: new ObjectId().toHexString(),
        target: { fields: fields(i + 1), status: 'active' },
        reasons: [],
      }));
      const { inserts } = stack.repos.profiles.plannedWrites(COMPANY, changes, NOW, TENANT);

      const outcome = await stack.repos.profiles.insertPlanned(COMPANY, inserts);

      assert.equal(outcome.written, count - taken.length);
      assert.deepEqual(
        outcome.refused.map((r) => r.change.luccaUserId),
        taken,
        'each refused create is reported, in plan order',
      );
      for (const [k, r] of outcome.refused.entries()) {
        assert.equal(r.conflict.reasons[0]?.code, 'changed-during-sync');
        assert.equal(r.conflict.profileId, holders[k]!._id.toHexString(), 'naming the profile that holds the user');
      }
      const after = await read();
      assert.equal(after.length, count, 'nothing lost, nothing doubled');
      assert.equal(new Set(after.map((p) => p.lucca?.userId)).size, count);
    },
  );
});
