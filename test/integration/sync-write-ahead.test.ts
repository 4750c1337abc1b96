import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FAKE_LUCCA_HOSTS, openStack, type Stack } from './helpers';
import {
  addTestCompany,
  changesOf,
  linkedProfile,
  profilesOf,
  runSync,
  staff,
  startSync,
  startWorker,
  until,
  type RunningWorker,
} from './sync-kit';
import { pageOffset } from '../../dev-tools/reliability/moments';
import { runResult } from '../../temporal/client';

/**
 * Small pages: a company of a few dozen people is a read of several pages, one of which the test
 * holds. The client reads each page from the last user of the one before (`pageOffset`).
 */
const PAGE_SIZE = 10;

/**
 * A first sync writes each page's creates while Lucca is still being read (under the rate limit
 * the creates then fit in the waits between requests); the guards, which count only changes to
 * linked profiles, have nothing to hold back in such a run. What that must not change: the
 * report, the counts, the profiles as a sync after the read would leave them.
 */
describe('a first sync writes its creates as it reads, on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('writeahead');
    worker = await startWorker(stack, stack.taskQueue, {
      // A held page must stay held: the client would give up on it after its timeout and ask again.
      lucca: { timeoutMs: 120_000, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS },
    });
  });

  after(async () => {
    await worker.stop();
    await stack.close();
  });

  /** Holds the read at page `page` (from 0) until released. */
  const holdPage = (tenant: string, page: number) =>
    stack.lucca.holdRequest({ tenant, whenOffset: pageOffset(page, PAGE_SIZE) });

  test('the pages read so far are created while a later page is still awaited; the run reports every create', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(50));
    const held = holdPage(tenant, 4);
    const handle = await startSync(stack, stack.taskQueue, companyId);
    try {
      await until('the read to reach the held page', async () => (held.holding ? true : undefined), 30_000);
      // Pages 1-4 are read (users 1-37: pages overlap by one); planned, then written before the read ends.
      await until(
        'the first pages created while the read is held',
        async () => ((await stack.store.profiles.countDocuments({ companyId })) >= 30 ? true : undefined),
        30_000,
      );
    } finally {
      held.release();
    }
    const result = await runResult(handle);
    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts!.created, 50);
    assert.equal(result.profileWrites, 50, 'each create counted once, written ahead or not');
    const profiles = await profilesOf(stack, companyId);
    assert.equal(profiles.length, 50);
    assert.equal(new Set(profiles.map((p) => p.lucca?.userId)).size, 50, 'one profile per user');
    const changes = await changesOf(stack, result.runId);
    assert.equal(changes.filter((c) => c.action === 'create').length, 50);
    assert.ok(
      changes.every((c) => c.action !== 'create' || profiles.some((p) => p._id.toHexString() === c.profileId)),
      'every reported create names the profile written',
    );
  });

  test('a company with a linked profile, or a dry run, writes nothing before its plan is complete', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(50));
    await runSync(stack, stack.taskQueue, companyId, { dryRun: false });
    // One linked profile left, the others gone: the next run's creates are guarded company's.
    const kept = await linkedProfile(stack, companyId, 1);
    await stack.store.profiles.deleteMany({ companyId, _id: { $ne: kept._id } });
    for (const dryRun of [false, true]) {
      const held = holdPage(tenant, 4);
      const handle = await startSync(stack, stack.taskQueue, companyId, { dryRun });
      try {
        await until('the read to reach the held page', async () => (held.holding ? true : undefined), 30_000);
        // The plan has caught up with the pages read: were anything written ahead, it would be now.
        const run = await until(
          'the pages read to be planned',
          async () => {
            const changes = await stack.store.syncChanges.countDocuments({ runId: handle.workflowId.split(':').pop() });
            return changes >= 36 ? changes : undefined;
          },
          30_000,
        );
        assert.ok(run >= 36);
        assert.equal(await stack.store.profiles.countDocuments({ companyId }), 1, `dry run ${dryRun}: nothing ahead`);
      } finally {
        held.release();
      }
      const result = await runResult(handle);
      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      assert.equal(result.counts!.created, 49);
      const expected = dryRun ? 1 : 50;
      assert.equal(await stack.store.profiles.countDocuments({ companyId }), expected);
      if (!dryRun) await stack.store.profiles.deleteMany({ companyId, _id: { $ne: kept._id } });
    }
  });

  test('a user created ahead whose email a later page shares is withdrawn: both are conflicts, as in any run', async () => {
    const users = staff(30);
    users[24] = { ...users[24]!, mail: users[2]!.mail };
    const { companyId, tenant } = await addTestCompany(stack, users);
    const held = holdPage(tenant, 2);
    const handle = await startSync(stack, stack.taskQueue, companyId);
    try {
      await until('the read to reach the held page', async () => (held.holding ? true : undefined), 30_000);
      await until(
        'user 3 created ahead, before the page sharing its email is read',
        async () =>
          (await stack.store.profiles.countDocuments({ companyId, 'lucca.userId': 3 })) === 1 ? true : undefined,
        30_000,
      );
    } finally {
      held.release();
    }
    const result = await runResult(handle);
    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts!.created, 28);
    assert.equal(result.counts!.conflicts, 2);
    const profiles = await profilesOf(stack, companyId);
    assert.deepEqual(
      profiles.filter((p) => p.lucca?.userId === 3 || p.lucca?.userId === 25),
      [],
      'neither user sharing the email has a profile',
    );
    assert.equal(profiles.length, 28);
    assert.equal(result.profileWrites, 28);
    const changes = await changesOf(stack, result.runId);
    for (const id of [3, 25]) {
      const change = changes.find((c) => c.luccaUserId === id);
      assert.equal(change?.action, 'conflict');
      assert.equal(change?.reason?.code, 'duplicate-email-in-lucca');
    }
  });

  test('a read retried after writing ahead plans its own profiles again as the creates they are', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(50));
    // Pages 1-3 written ahead, then the read fails once and its next attempt resumes.
    const held = holdPage(tenant, 3);
    stack.lucca.addFault({ tenant, kind: 'status', status: 500, whenOffset: pageOffset(3, PAGE_SIZE), times: 1 });
    const handle = await startSync(stack, stack.taskQueue, companyId);
    try {
      await until('the read to reach the held page', async () => (held.holding ? true : undefined), 30_000);
      await until(
        'the first pages created before the read fails',
        async () => ((await stack.store.profiles.countDocuments({ companyId })) >= 20 ? true : undefined),
        30_000,
      );
    } finally {
      held.release();
    }
    const result = await runResult(handle);
    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts!.created, 50, 'the profiles the first attempt wrote are still reported created');
    assert.equal(result.counts!.unchanged, 0);
    assert.equal(result.profileWrites, 50);
    const profiles = await profilesOf(stack, companyId);
    assert.equal(profiles.length, 50);
    const changes = await changesOf(stack, result.runId);
    assert.equal(changes.filter((c) => c.action === 'create').length, 50);
    const history = await handle.fetchHistory();
    const attempts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(
      attempts.some((a) => (a ?? 1) > 1),
      'the read was retried',
    );
  });
});
