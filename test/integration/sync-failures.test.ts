import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { SyncRunInput } from '../../workflows/messages';
import { FAKE_LUCCA_HOSTS, openStack, type Stack } from './helpers';
import {
  addTestCompany,
  anyway,
  changesOf,
  FAST_RETRIES,
  luccaUser,
  profilesOf,
  profileViews,
  runSync,
  staff,
  startWorker,
  type RunningWorker,
} from './sync-kit';

const PAGE_SIZE = 50;
/** Where page k (0-based) is requested: each page after the first starts on the previous page's last user. */
const pageOffset = (k: number) => (k === 0 ? 0 : k * (PAGE_SIZE - 1));

describe('a sync run facing a misbehaving Lucca', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('failures');
    // Small pages: a few hundred users make a multi-page read without costing FerretDB much.
    worker = await startWorker(stack, stack.taskQueue, {
      lucca: { timeoutMs: 5_000, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS },
    });
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  afterEach(() => {
    stack.lucca.clearFaults();
  });

  const sync = (companyId: string, input: Partial<SyncRunInput> = {}) =>
    runSync(stack, stack.taskQueue, companyId, input);
  const luccaRequests = (tenant: string) => stack.lucca.requests(tenant).filter((r) => r.path === '/api/v3/users');

  test('a read that fails for good on a later page fails the run and deactivates nobody', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(120));
    await sync(companyId);
    const before = await profilesOf(stack, companyId);

    // Half the company vanishes and page 2 breaks: the read is incomplete, so absence means nothing.
    stack.lucca.mutateUsers(tenant, (users) => users.filter((u) => u.id % 2 === 0));
    stack.lucca.addFault({ tenant, whenOffset: pageOffset(1), times: Infinity, kind: 'status', status: 500 });
    const failed = await sync(companyId, { tuning: { ...FAST_RETRIES, readMaximumAttempts: 2 } });

    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'lucca-unavailable');
    assert.match(failed.error?.message ?? '', /could not be read completely.*Nothing was changed/);
    assert.equal(failed.profileWrites, 0);
    assert.deepEqual(await profilesOf(stack, companyId), before, 'no profile changed');
    assert.equal((await changesOf(stack, failed.runId)).length, 0, 'nothing was planned');
    const run = await stack.repos.syncRuns.get(failed.runId);
    assert.deepEqual({ status: run?.status, code: run?.error?.code }, { status: 'failed', code: 'lucca-unavailable' });
    assert.equal(
      luccaRequests(tenant).filter((r) => r.query.paging === `${pageOffset(1)},${PAGE_SIZE}` && r.status === 500)
        .length,
      2,
      'the page was tried as often as readMaximumAttempts allows',
    );
    assert.equal(await stack.repos.workingData.countPages(failed.runId), 0, 'staging is cleared after a failed run');

    // Once Lucca answers every page, the same absences are real removals.
    stack.lucca.clearFaults();
    const removals = await sync(companyId);
    assert.deepEqual([removals.status, removals.counts?.deactivated], ['blocked', 60]);
    const complete = await sync(companyId, anyway(removals));
    assert.equal(complete.status, 'succeeded');
    assert.equal(complete.counts?.deactivated, 60);
  });

  for (const [status, keys] of [
    [401, (key: string) => [{ key, revoked: true }]],
    [403, (key: string) => [{ key, forbidden: true }]],
  ] as const) {
    test(`a ${status} from Lucca fails the run at once with lucca-auth and a next step for the operator`, async () => {
      const { companyId, tenant, apiKey } = await addTestCompany(stack, staff(5));
      await sync(companyId);
      const before = await profilesOf(stack, companyId);
      stack.lucca.mutateUsers(tenant, (users) => users.map((u) => ({ ...u, firstName: 'Changed' })));
      stack.lucca.setApiKeys(tenant, keys(apiKey));
      stack.lucca.clearRequests();

      const failed = await sync(companyId);

      assert.equal(failed.status, 'failed');
      assert.equal(failed.error?.code, 'lucca-auth');
      assert.match(failed.error?.message ?? '', new RegExp(`\\(${status}\\)`));
      assert.match(failed.error?.message ?? '', /Ask the company's Lucca admin .* run onboard again/);
      assert.ok(!(failed.error?.message ?? '').includes(apiKey), 'the message never quotes the key');
      const requests = luccaRequests(tenant);
      assert.equal(requests.length, 1, 'exactly one request: an auth failure is not retried');
      assert.equal(requests[0]?.status, status);
      assert.deepEqual(await profilesOf(stack, companyId), before, 'no profile written');
      const run = await stack.repos.syncRuns.get(failed.runId);
      assert.deepEqual({ status: run?.status, code: run?.error?.code }, { status: 'failed', code: 'lucca-auth' });
    });
  }

  test('429s, 5xx, 408, resets and truncated bodies are ridden out with the same profiles as a clean run', async () => {
    const users = staff(170);
    const clean = await addTestCompany(stack, users);
    const rough = await addTestCompany(stack, users);
    const t = rough.tenant;
    stack.lucca.addFault({ tenant: t, whenOffset: 0, kind: 'status', status: 429, retryAfter: '1', times: 3 });
    stack.lucca.addFault({ tenant: t, whenOffset: pageOffset(1), kind: 'status', status: 500 });
    stack.lucca.addFault({ tenant: t, whenOffset: pageOffset(1), kind: 'reset' });
    stack.lucca.addFault({ tenant: t, whenOffset: pageOffset(2), kind: 'status', status: 503 });
    stack.lucca.addFault({ tenant: t, whenOffset: pageOffset(2), kind: 'truncate' });
    stack.lucca.addFault({ tenant: t, whenOffset: pageOffset(3), kind: 'status', status: 408, delayMs: 200 });

    const [cleanRun, roughRun] = await Promise.all([sync(clean.companyId), sync(rough.companyId)]);

    assert.equal(roughRun.status, 'succeeded', JSON.stringify(roughRun.error));
    assert.deepEqual(stack.lucca.listFaults(), [], 'every fault was served');
    const statuses = luccaRequests(t).map((r) => r.status);
    for (const s of [429, 500, 503, 408]) assert.ok(statuses.includes(s), `Lucca answered ${s} at least once`);
    const firstPage = luccaRequests(t).filter((r) => r.query.paging === `0,${PAGE_SIZE}`);
    assert.deepEqual(
      firstPage.map((r) => r.status),
      [429, 429, 429, 200],
    );
    for (let i = 1; i < firstPage.length; i++) {
      const gap = firstPage[i]!.at - firstPage[i - 1]!.at;
      assert.ok(gap >= 950, `waited ${gap} ms after a 429 with Retry-After: 1`);
    }
    assert.deepEqual(roughRun.counts, cleanRun.counts);
    const roughProfiles = await profilesOf(stack, rough.companyId);
    assert.equal(roughProfiles.length, 170);
    assert.deepEqual(profileViews(roughProfiles), profileViews(await profilesOf(stack, clean.companyId)));
  });

  test('users inserted between two page reads are staged once: no duplicate change, no duplicate profile', async () => {
    // Ids start at 100 so that new users can be slotted in front of everyone.
    const { companyId, tenant } = await addTestCompany(stack, staff(120, 100));
    stack.lucca.onNextRequest(tenant, (users) => [luccaUser(1), luccaUser(2), luccaUser(3), ...users], {
      whenOffset: pageOffset(1),
    });

    const first = await sync(companyId);

    assert.equal(first.status, 'succeeded');
    assert.equal(first.counts?.seen, 120, 'the three users read twice are counted once');
    assert.equal(first.counts?.created, 120);
    const changes = await changesOf(stack, first.runId);
    const changedIds = changes.map((c) => c.luccaUserId);
    assert.equal(new Set(changedIds).size, changedIds.length, 'one change per Lucca user');
    const profiles = await profilesOf(stack, companyId);
    const linkedIds = profiles.map((p) => p.lucca?.userId);
    assert.equal(new Set(linkedIds).size, 120, 'one profile per Lucca user');

    const second = await sync(companyId);
    assert.equal(second.counts?.created, 3, 'the users inserted mid-read are created by the next run');
    assert.equal(second.counts?.seen, 123);
    assert.equal((await profilesOf(stack, companyId)).length, 123);
  });

  test('an email shared by users 23 pages apart makes both conflicts: the first one’s page is planned again, its first plan gone from the report', async () => {
    // 1,200 users are 24 pages: the read runs ahead of the plan (by at most PAGES_AHEAD) most of the way.
    const users = staff(1_200).map((u) => (u.id === 3 || u.id === 1_150 ? { ...u, mail: 'shared@acme.fr' } : u));
    const { companyId } = await addTestCompany(stack, users);

    const first = await sync(companyId);

    assert.equal(first.status, 'succeeded');
    assert.deepEqual([first.counts?.seen, first.counts?.created, first.counts?.conflicts], [1_200, 1_198, 2]);
    const changes = await changesOf(stack, first.runId);
    assert.equal(changes.length, 1_200, 'one change per Lucca user, none left from page 1’s first plan');
    assert.deepEqual(
      changes.filter((c) => c.action === 'conflict').map((c) => [c.luccaUserId, c.reason?.code]),
      [
        [3, 'duplicate-email-in-lucca'],
        [1_150, 'duplicate-email-in-lucca'],
      ],
      'in page order',
    );
    const linked = new Set((await profilesOf(stack, companyId)).map((p) => p.lucca?.userId));
    assert.equal(linked.size, 1_198);
    assert.ok(!linked.has(3) && !linked.has(1_150), 'neither user sharing the email got a profile');
  });

  // Offset paging skips the users that slide back over a page boundary when earlier users are
  // deleted mid-read; the read notices (each page re-reads the previous page's last user) and the
  // run then plans nobody as removed.
  test('users deleted between two page reads do not make still-employed users look removed', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(120));
    await sync(companyId);
    stack.lucca.onNextRequest(tenant, (users) => users.filter((u) => u.id > 5), { whenOffset: pageOffset(1) });

    const second = await sync(companyId);

    const removed = (await changesOf(stack, second.runId)).filter((c) => c.reason?.code === 'removed-from-lucca');
    assert.deepEqual(
      removed.map((c) => c.luccaUserId),
      [],
      'users 51–55 are still in Lucca: they must not be planned as removed',
    );
  });

  test('users deleted between two page reads leave no duplicate, and the next run converges on Lucca', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(120));
    stack.lucca.onNextRequest(tenant, (users) => users.filter((u) => u.id > 5), { whenOffset: pageOffset(1) });

    const first = await sync(companyId);
    assert.equal(first.status, 'succeeded');
    const ids = (await profilesOf(stack, companyId)).map((p) => p.lucca?.userId);
    assert.equal(new Set(ids).size, ids.length, 'one profile per Lucca user');

    const second = await sync(companyId);
    assert.equal(second.status, 'succeeded');
    const third = await sync(companyId);
    assert.equal(third.profileWrites, 0, 'converged');
    const profiles = await profilesOf(stack, companyId);
    const active = profiles.filter((p) => p.status === 'active').map((p) => p.lucca!.userId);
    assert.deepEqual(
      active.sort((x, y) => x - y),
      stack.lucca.getUsers(tenant).map((u) => u.id),
    );
    assert.equal(profiles.filter((p) => p.status === 'former').length, profiles.length - 115);
  });

  test('the key only goes where it was given for: a stored URL changed outside onboarding sends nothing', async () => {
    const { companyId, tenant, apiKey } = await addTestCompany(stack, staff(5));
    const before = await profilesOf(stack, companyId);
    const moveTo = (baseUrl: string) =>
      stack.store.companies.updateOne({ _id: companyId }, { $set: { 'lucca.baseUrl': baseUrl } });

    // A host the worker may not send keys to, whatever the database says.
    await moveTo('https://lucca.evil.example.test');
    const offHost = await sync(companyId);
    assert.deepEqual([offHost.status, offHost.error?.code], ['failed', 'configuration']);
    assert.match(
      offHost.error?.message ?? '',
      /not a Lucca host this worker may send a key to \(LUCCA_ALLOWED_HOSTS\)/,
    );

    // An allowed host, but not the one the key was stored for: another tenant that would happily read it.
    const other = `${tenant}-other`;
    stack.lucca.addTenant(other, { users: staff(5), apiKeys: [{ key: apiKey }], rateLimit: false });
    await moveTo(stack.lucca.tenantUrl(other));
    const offBinding = await sync(companyId);
    assert.deepEqual([offBinding.status, offBinding.error?.code], ['failed', 'configuration']);
    assert.match(offBinding.error?.message ?? '', /does not decrypt it for this company and Lucca URL/);
    assert.deepEqual(stack.lucca.requests(other), [], 'the key was never sent to the other tenant');
    assert.ok(!JSON.stringify(offBinding).includes(apiKey));
    assert.deepEqual(await profilesOf(stack, companyId), before);
  });
});
