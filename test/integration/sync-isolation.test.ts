import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStack, type Stack } from './helpers';
import {
  addTestCompany,
  linkedProfile,
  profilesOf,
  profileViews,
  runSync,
  staff,
  startWorker,
  updatedStamps,
  type RunningWorker,
  insertPlatformProfile,
} from './sync-kit';

describe('companies on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('isolation');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  test("two companies with the same emails and Lucca ids never touch each other's profiles", async () => {
    // Same people, same Lucca ids, same emails: two tenants that mirror each other.
    const a = await addTestCompany(stack, staff(8));
    const b = await addTestCompany(stack, staff(8));
    const unlinkedInB = await insertPlatformProfile(stack, b.companyId, {
      firstName: 'Camille',
      lastName: 'Lefèvre',
      email: 'camille1.lefevre@acme.example',
    });
    const bBefore = await profilesOf(stack, b.companyId);

    const firstA = await runSync(stack, stack.taskQueue, a.companyId);

    assert.equal(firstA.counts?.created, 8, "A's user 1 is created in A, not attached to B's profile");
    assert.equal(firstA.counts?.linked, 0);
    assert.deepEqual(await profilesOf(stack, b.companyId), bBefore, "B's unlinked profile is left alone");
    assert.equal((await profilesOf(stack, a.companyId)).length, 8);

    const firstB = await runSync(stack, stack.taskQueue, b.companyId);
    assert.deepEqual({ created: firstB.counts?.created, linked: firstB.counts?.linked }, { created: 7, linked: 1 });
    assert.equal((await linkedProfile(stack, b.companyId, 1))._id.toHexString(), unlinkedInB.toHexString());
    const bSynced = await profilesOf(stack, b.companyId);
    assert.equal(bSynced.length, 8);
    assert.deepEqual(profileViews(bSynced), profileViews(await profilesOf(stack, a.companyId)));

    // A's Lucca changes a name and loses a user; B's Lucca does not.
    stack.lucca.mutateUsers(a.tenant, (users) =>
      users.filter((u) => u.id !== 3).map((u) => (u.id === 2 ? { ...u, firstName: 'Dominique' } : u)),
    );
    const secondA = await runSync(stack, stack.taskQueue, a.companyId);
    assert.deepEqual(
      { updated: secondA.counts?.updated, deactivated: secondA.counts?.deactivated },
      {
        updated: 1,
        deactivated: 1,
      },
    );
    assert.equal((await linkedProfile(stack, a.companyId, 2)).firstName, 'Dominique');
    assert.equal((await linkedProfile(stack, a.companyId, 3)).status, 'former');
    assert.deepEqual(await profilesOf(stack, b.companyId), bSynced, "B's profiles are exactly as B's sync left them");

    const secondB = await runSync(stack, stack.taskQueue, b.companyId);
    assert.equal(secondB.profileWrites, 0, "A's run left nothing for B to repair");
    assert.deepEqual(updatedStamps(await profilesOf(stack, b.companyId)), updatedStamps(bSynced));
    const perCompany = await stack.store.profiles
      .aggregate<{ _id: string; n: number }>([
        { $match: { companyId: { $in: [a.companyId, b.companyId] } } },
        { $group: { _id: '$companyId', n: { $sum: 1 } } },
      ])
      .toArray();
    assert.deepEqual(Object.fromEntries(perCompany.map((r) => [r._id, r.n])), {
      [a.companyId]: 8,
      [b.companyId]: 8,
    });
  });
});
