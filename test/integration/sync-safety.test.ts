import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import type { ReadResult } from '../../activities/fetch-lucca-users';
import { loadConfig } from '../../config/env';
import { apiKeyHint, encryptApiKey } from '../../db/api-key-cipher';
import type { ProfileDocument } from '../../db/profiles-repository';
import { ReviewedChangesRepository } from '../../db/reviewed-changes-repository';
import { failureCode } from '../../domain/failures';
import { askedToApplyAnyway } from '../../domain/guards';
import { OperationError, requestSync, waitForSyncRun, type OperationsDeps } from '../../operations';
import { onboardCompany } from '../../operations/onboard';
import { companySyncWorkflow } from '../../workflows';
import { syncNowSignal, type SyncTuning } from '../../workflows/messages';
import { companyWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute } from '../../temporal/search-attributes';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import {
  activityDeps,
  FAKE_LUCCA_HOSTS,
  forgetCompanies,
  newApiKey,
  openStack,
  recordHistory,
  TEST_KEYRING,
  uniqueSuffix,
  type Stack,
  stackEnv,
} from './helpers';
import {
  addTestCompany,
  anyway,
  FAST_RETRIES,
  luccaDate,
  luccaUser,
  platformProfile,
  profilesOf,
  runSync,
  staff,
  startWorker,
  until,
  type RunningWorker,
} from './sync-kit';

/** Pages of 100: a company of 300 is read in four requests, the third of which a test holds. */
const PAGE_SIZE = 100;
/** Where the third page is asked for (each page after the first starts on the previous one's last user). */
const THIRD_PAGE = `${2 * (PAGE_SIZE - 1)},${PAGE_SIZE}`;
/** A held page times out at each attempt and is read again, until the test lets it through. */
const LUCCA_TIMEOUT_MS = 2_000;
const HELD_RUN_TUNING: SyncTuning = { ...FAST_RETRIES, readMaximumAttempts: 10_000 };

/** Another tenant's people under the same Lucca ids: other names, emails, birth dates. */
const otherPeople = (count: number): LuccaRawUser[] =>
  Array.from({ length: count }, (_, i) =>
    luccaUser(i + 1, {
      firstName: `Bérénice${i + 1}`,
      lastName: `Tenant-B${i + 1}`,
      mail: `berenice${i + 1}@tenant-b.example`,
      birthDate: luccaDate('1991-02-03'),
    }),
  );

/**
 * What a sync must never do: write one tenant's people onto another's profiles, or deactivate
 * people nobody reviewed. On the real stack: connection stamps and links recorded per tenant, "apply
 * anyway" by identity, and guards that hold for a company of five as for one of a thousand.
 */
describe('a sync writes only what was read with the connection, and only what was reviewed', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('safety');
    worker = await startWorker(stack, stack.taskQueue, {
      lucca: { timeoutMs: LUCCA_TIMEOUT_MS, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS },
    });
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await worker?.stop();
    await stack?.close();
  });

  afterEach(() => {
    stack.lucca.clearFaults();
  });

  /** A company id and two fake tenants for it: A (`staff`) and B (other people under the same ids). */
  function twoTenants(size: number) {
    const companyId = `co-${uniqueSuffix()}`;
    companies.push(companyId);
    const a = { tenant: `${companyId}-a`, apiKey: newApiKey() };
    const b = { tenant: `${companyId}-b`, apiKey: newApiKey() };
    stack.lucca.addTenant(a.tenant, { users: staff(size), apiKeys: [{ key: a.apiKey }], rateLimit: false });
    stack.lucca.addTenant(b.tenant, { users: otherPeople(size), apiKeys: [{ key: b.apiKey }], rateLimit: false });
    const url = (t: { tenant: string }) => stack.lucca.tenantUrl(t.tenant);
    return { companyId, a: { ...a, url: url(a) }, b: { ...b, url: url(b) } };
  }

  /** The company workflow, started with fast retries and no limit on read attempts, before onboarding uses it. */
  async function companyWorkflow(companyId: string) {
    await stack.client.workflow.start(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: HELD_RUN_TUNING }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
  }

  /** Holds reads of `tenant`'s third page (each attempt times out), and resolves once a run is held there. */
  async function holdThirdPage(tenant: string) {
    const seen = stack.lucca.requests(tenant).filter((r) => r.query.paging === THIRD_PAGE).length;
    stack.lucca.addFault({ tenant, whenOffset: 2 * (PAGE_SIZE - 1), kind: 'slow', delayMs: 600_000, times: Infinity });
    await until('a run to be held on the third Lucca page', async () =>
      stack.lucca.requests(tenant).filter((r) => r.query.paging === THIRD_PAGE).length > seen ? true : undefined,
    );
  }

  /** What onboarding writes for a new connection, written past it: a change that raced its checks. */
  async function switchConnectionBehindOnboarding(companyId: string, to: { url: string; apiKey: string }) {
    await stack.repos.companies.upsert({
      id: companyId,
      name: companyId,
      timezone: 'Europe/Paris',
      baseUrl: to.url,
      encryptedApiKey: encryptApiKey(TEST_KEYRING, { companyId, baseUrl: to.url }, to.apiKey),
      apiKeyHint: apiKeyHint(to.apiKey),
      connectionId: randomUUID(),
      every: '24h',
      now: new Date(),
    });
  }

  const onboard = (companyId: string, to: { url: string; apiKey: string }, extra: { relink?: boolean } = {}) =>
    onboardCompany(deps, {
      companyId,
      name: companyId,
      luccaUrl: to.url,
      apiKey: to.apiKey,
      requestedBy: 'test',
      ...extra,
    });

  const isB = (p: ProfileDocument) => p.lastName?.startsWith('Tenant-B') || p.email?.endsWith('@tenant-b.example');

  test('a new Lucca URL while the first sync is held on a slow page is refused; a change that lands anyway makes the run write nothing', async () => {
    const { companyId, a, b } = twoTenants(300);
    await companyWorkflow(companyId);
    const holding = holdThirdPage(a.tenant);
    const first = await onboard(companyId, a);
    await holding;
    const stamp = (await stack.repos.companies.get(companyId))!.lucca.connectionId;

    // Nothing is linked yet: only the run in flight says this company is already reading tenant A.
    await assert.rejects(onboard(companyId, b), (err: OperationError) => {
      assert.equal(err.code, 'run-in-flight');
      assert.match(err.message, /sync run in flight \(run .+\).*Nothing was changed/);
      return true;
    });
    const kept = (await stack.repos.companies.get(companyId))!.lucca;
    assert.deepEqual([kept.baseUrl, kept.connectionId], [a.url, stamp], 'the connection is as it was');

    // A change the refusal could not see (no worker answered, or it raced the check) lands anyway.
    await switchConnectionBehindOnboarding(companyId, b);
    stack.lucca.clearFaults();
    const run = await waitForSyncRun(deps, first.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    assert.equal(run.status, 'failed');
    assert.equal(run.error?.code, 'connection-changed');
    // Seen by the read's next attempt (the held page timed out) or at the read's end, whichever comes first.
    assert.match(run.error?.message ?? '', /changed (since|while) this run .*reading.*nothing was written/);
    assert.equal(run.connectionId, stamp, 'the run recorded the stamp it read with');
    assert.deepEqual(await profilesOf(stack, companyId), [], "nothing of tenant A's read was written");
    await recordHistory(stack, 'failed-connection-changed', run.workflowId);

    // Once nothing is in flight, the company moves to B: B's people only, each link recording B.
    const moved = await onboard(companyId, b);
    const onB = await waitForSyncRun(deps, moved.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    assert.equal(onB.status, 'succeeded', JSON.stringify(onB.error));
    const profiles = await profilesOf(stack, companyId);
    assert.equal(profiles.length, 300);
    assert.ok(profiles.every((p) => isB(p) && p.lucca?.tenant === b.url));
  });

  test('onboarding again with the same URL and key is no change: accepted mid-run, stamp kept, the run applies', async () => {
    const { companyId, a } = twoTenants(300);
    await companyWorkflow(companyId);
    const first = await onboard(companyId, a);
    assert.equal(first.connectionChanged, true);
    assert.equal((await waitForSyncRun(deps, first.firstSync, { pollMs: 100 })).status, 'succeeded');
    const stamp = first.connectionId;

    stack.lucca.mutateUsers(a.tenant, (users) => users.map((u) => (u.id === 250 ? { ...u, lastName: 'Durand' } : u)));
    const holding = holdThirdPage(a.tenant);
    const held = await requestSync(deps, { companyId, requestedBy: 'test' });
    await holding;
    const again = await onboard(companyId, { url: `${a.url}/`, apiKey: ` ${a.apiKey}\n` });
    assert.deepEqual([again.connectionChanged, again.connectionId], [false, stamp], 'the same URL and key, as pasted');
    // A new key of the same tenant is a change: refused while the run is in flight.
    const newKey = newApiKey();
    stack.lucca.setApiKeys(a.tenant, [{ key: a.apiKey }, { key: newKey }]);
    await assert.rejects(
      onboard(companyId, { ...a, apiKey: newKey }),
      (err: OperationError) => err.code === 'run-in-flight',
    );
    assert.equal((await stack.repos.companies.get(companyId))!.lucca.connectionId, stamp);

    stack.lucca.clearFaults();
    const run = await waitForSyncRun(deps, held, { pollMs: 100, timeoutMs: 120_000 });
    assert.deepEqual([run.status, run.counts?.updated], ['succeeded', 1], JSON.stringify(run.error));
  });

  test('--relink while a run is in flight is refused; a relink that lands anyway is not undone by that run', async () => {
    const { companyId, a, b } = twoTenants(300);
    await companyWorkflow(companyId);
    const first = await onboard(companyId, a);
    assert.equal((await waitForSyncRun(deps, first.firstSync, { pollMs: 100 })).status, 'succeeded');
    const linkedToA = await profilesOf(stack, companyId);
    assert.ok(linkedToA.every((p) => p.lucca?.tenant === a.url && !isB(p)));

    // A second run is held while it reads A; the company is then moved to B.
    stack.lucca.mutateUsers(a.tenant, (users) => users.map((u) => ({ ...u, lastName: `${u.lastName}-Martin` })));
    const holding = holdThirdPage(a.tenant);
    const second = await requestSync(deps, { companyId, requestedBy: 'test' });
    await holding;
    await assert.rejects(
      onboard(companyId, b, { relink: true }),
      (err: OperationError) => err.code === 'run-in-flight',
    );
    assert.equal(await stack.repos.profiles.countLinked(companyId), 300, 'nothing was unlinked');

    // What a relink writes, landing anyway: profiles unlinked, then the new connection.
    await stack.repos.profiles.unlinkCompany(companyId, new Date());
    await switchConnectionBehindOnboarding(companyId, b);
    stack.lucca.clearFaults();
    const held = await waitForSyncRun(deps, second, { pollMs: 100, timeoutMs: 120_000 });
    assert.equal(held.error?.code, 'connection-changed');
    assert.equal(await stack.repos.profiles.countLinked(companyId), 0, 'the run read on A linked nobody again');

    // The next run reads B: A's people keep their profiles and data, B's people get their own.
    const third = await waitForSyncRun(deps, await requestSync(deps, { companyId, requestedBy: 'test' }), {
      pollMs: 100,
    });
    assert.equal(third.status, 'succeeded', JSON.stringify(third.error));
    assert.deepEqual([third.counts?.created, third.counts?.linked], [300, 0]);
    const byId = new Map((await profilesOf(stack, companyId)).map((p) => [p._id.toHexString(), p]));
    for (const before of linkedToA) {
      const now = byId.get(before._id.toHexString())!;
      assert.deepEqual([now.firstName, now.lastName, now.email], [before.firstName, before.lastName, before.email]);
    }
  });

  test('a link made under another tenant is never followed: its profile keeps its person, or is attached again by email', async () => {
    const { companyId, a, b } = twoTenants(20);
    await switchConnectionBehindOnboarding(companyId, a);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).status, 'succeeded');
    const linkedToA = await profilesOf(stack, companyId);
    // Person 5 of A is in B too, under another id; B's ids 1–20 are other people.
    stack.lucca.mutateUsers(b.tenant, (users) => [
      ...users,
      luccaUser(21, { firstName: 'Camille5', lastName: 'Lefèvre5', mail: 'camille5.lefevre@acme.example' }),
    ]);

    // The company ends up on B with A's links in place: what a switch that raced a run's last writes leaves.
    await switchConnectionBehindOnboarding(companyId, b);
    const onB = await runSync(stack, stack.taskQueue, companyId);

    assert.equal(onB.status, 'succeeded', JSON.stringify(onB.error));
    assert.deepEqual([onB.counts?.created, onB.counts?.linked, onB.counts?.updated], [20, 1, 0]);
    const byId = new Map((await profilesOf(stack, companyId)).map((p) => [p._id.toHexString(), p]));
    assert.equal(byId.size, 40, "A's 20 profiles, and B's 20 other people: A's person 5 is B's user 21");
    for (const before of linkedToA) {
      const now = byId.get(before._id.toHexString())!;
      assert.ok(!isB(now), `profile of A's ${before.firstName} keeps A's data`);
      assert.equal(now.firstName, before.firstName);
      if (before.lucca?.userId === 5) assert.deepEqual([now.lucca?.userId, now.lucca?.tenant], [21, b.url]);
      else assert.equal(now.lucca, undefined, 'unlinked: its id means someone else in B');
    }
    const created = [...byId.values()].filter((p) => isB(p));
    assert.equal(created.length, 20);
    assert.ok(created.every((p) => p.lucca?.tenant === b.url));
  });

  test('the apply writes nothing once the connection changed after the read', async () => {
    const company = await addTestCompany(stack, staff(30));
    companies.push(company.companyId);
    const { companyId } = company;
    const runId = `run-${uniqueSuffix()}`;
    const activities = createActivities(activityDeps(stack));
    const env = () => new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const run = { companyId, runId };
    await env().run(() =>
      activities.startSyncRun({
        ...run,
        trigger: 'manual',
        requestedBy: 'test',
        dryRun: false,
        allowMassDeactivation: false,
      }),
    );
    const read: ReadResult = await env().run(activities.fetchLuccaUsers, run);
    assert.equal(read.plan?.writes, 30);

    // Onboarded again with a new key between the read and the apply.
    const stored = (await stack.repos.companies.get(companyId))!;
    await switchConnectionBehindOnboarding(companyId, { url: stored.lucca.baseUrl, apiKey: newApiKey() });
    await assert.rejects(
      env().run(() => activities.applySyncPlan(run)),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(failureCode(err.type), 'connection-changed');
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /nothing was written/);
        return true;
      },
    );
    assert.deepEqual(await profilesOf(stack, companyId), []);
  });

  test('apply anyway applies the people reviewed: users 161–200 vanishing instead of 1–40 are blocked again, 40 not reviewed', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(200));
    companies.push(companyId);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).status, 'succeeded');

    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 40));
    const blocked = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([blocked.status, blocked.counts?.deactivated], ['blocked', 40]);
    const reviewed = await stack.repos.reviewed.read(companyId, blocked.runId);
    assert.deepEqual(
      [...(reviewed?.get('deactivate') ?? [])].sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
      'the blocked run keeps who its deactivations touch',
    );

    // Users 1–40 are back, 161–200 vanish instead: as many deactivations, none of the people reviewed.
    stack.lucca.mutateUsers(tenant, () => staff(160));
    const again = await runSync(stack, stack.taskQueue, companyId, anyway(blocked));
    assert.equal(again.status, 'blocked');
    assert.equal(again.error?.code, 'mass-deactivation');
    assert.match(again.error?.message ?? '', /deactivate 40 profiles \(40 not reviewed\)/);
    assert.match(again.error?.message ?? '', /40 changes of this plan were not reviewed/);
    const untouched = await profilesOf(stack, companyId);
    assert.ok(
      untouched.every((p) => p.status === 'active'),
      'nobody was deactivated',
    );
    assert.deepEqual((await stack.repos.syncRuns.get(again.runId))?.guard?.fired, [
      { guard: 'deactivate', count: 40, limit: 20, unreviewed: 40 },
    ]);
    assert.equal(await stack.repos.reviewed.read(companyId, blocked.runId), null, 'a later run ended: gone');
    await recordHistory(stack, 'blocked-unreviewed', (await stack.repos.syncRuns.get(again.runId))!.workflowId);

    // The operator reviews this plan instead: its 40 people are deactivated, no one else.
    const applied = await runSync(stack, stack.taskQueue, companyId, anyway(again));
    assert.deepEqual([applied.status, applied.counts?.deactivated], ['succeeded', 40]);
    const former = (await profilesOf(stack, companyId)).filter((p) => p.status === 'former');
    assert.deepEqual(
      former.map((p) => p.lucca!.userId).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => 161 + i),
    );
  });

  test('an override is checked when its run starts: once a later run has ended, it lifts nothing', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    companies.push(companyId);
    await runSync(stack, stack.taskQueue, companyId);
    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 20));
    const blocked = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(blocked.status, 'blocked');
    const dryRun = await runSync(stack, stack.taskQueue, companyId, { dryRun: true });
    assert.equal(dryRun.status, 'blocked');

    const late = await runSync(stack, stack.taskQueue, companyId, anyway(blocked));
    assert.equal(late.status, 'blocked');
    assert.match(
      late.error?.message ?? '',
      new RegExp(`override of run ${blocked.runId} was not applied: run ${dryRun.runId} ended after it`),
    );
    assert.ok((await profilesOf(stack, companyId)).every((p) => p.status === 'active'));
  });

  test('a bare allowMassDeactivation on syncNow lifts nothing; an override must name the run it applies', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    companies.push(companyId);
    await runSync(stack, stack.taskQueue, companyId);
    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 20));
    const blocked = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(blocked.status, 'blocked');

    // Started on the run workflow itself, past the company workflow: the run ignores it too.
    const direct = await runSync(stack, stack.taskQueue, companyId, { allowMassDeactivation: true });
    assert.equal(direct.status, 'blocked', 'the run lifts nothing for a bare flag');

    const handle = await stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: FAST_RETRIES }],
      signal: syncNowSignal,
      signalArgs: [{ requestedBy: 'raw-signal', allowMassDeactivation: true }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
    const raw = await until('the raw request to run', async () => {
      const runs = await stack.repos.syncRuns.list(companyId, 10);
      const run = runs.find((r) => r.requestedBy === 'raw-signal' && r.status !== 'running');
      return run ?? undefined;
    });
    assert.equal(raw.status, 'blocked', 'the bare flag lifted nothing');
    assert.equal(raw.overrideOf, undefined);
    assert.equal(askedToApplyAnyway(raw), false, 'the company workflow dropped the bare flag');
    assert.ok((await profilesOf(stack, companyId)).every((p) => p.status === 'active'));

    // Naming the blocked run (the raw request's own, now the latest) applies it.
    await handle.signal(syncNowSignal, { requestedBy: 'named', override: { blockedRunId: raw._id } });
    const named = await until('the named override to run', async () => {
      const run = (await stack.repos.syncRuns.list(companyId, 10)).find((r) => r.requestedBy === 'named');
      return run && run.status !== 'running' ? run : undefined;
    });
    assert.deepEqual([named.status, named.overrideOf, named.counts?.deactivated], ['succeeded', raw._id, 20]);
    await recordHistory(stack, 'named-override', companyWorkflowId(companyId));
    await handle.terminate('test over');
  });

  test('an empty answer from Lucca for a company of five linked people is a read error, not five departures', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(5));
    companies.push(companyId);
    await runSync(stack, stack.taskQueue, companyId);
    const before = await profilesOf(stack, companyId);

    stack.lucca.mutateUsers(tenant, () => []);
    const empty = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([empty.status, empty.error?.code], ['failed', 'lucca-empty']);
    assert.match(empty.error?.message ?? '', /no user at all .* 5 linked profiles.*Nothing was changed/);
    assert.deepEqual(await profilesOf(stack, companyId), before, 'nobody deactivated, nothing written');
    const requests = stack.lucca.requests(tenant).filter((r) => r.path === '/api/v3/users');
    assert.equal(
      requests.filter((r) => r.query.paging === `0,${PAGE_SIZE}`).length,
      2,
      'read once per run: not retried',
    );
  });

  test('an empty answer for forty linked among four hundred imported profiles deactivates nobody either', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(40));
    companies.push(companyId);
    await stack.store.profiles.insertMany(
      Array.from({ length: 400 }, (_, i) =>
        platformProfile(companyId, {
          firstName: `Imported${i}`,
          lastName: 'Platform',
          email: `imported${i}@acme.example`,
        }),
      ),
    );
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, 40);
    const before = await profilesOf(stack, companyId);

    stack.lucca.mutateUsers(tenant, () => []);
    const empty = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([empty.status, empty.error?.code], ['failed', 'lucca-empty']);
    assert.deepEqual(await profilesOf(stack, companyId), before);

    // Thirty of the forty really leave: blocked too, measured against the forty linked, not the 440.
    stack.lucca.mutateUsers(tenant, () => staff(10));
    const thirty = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(thirty.status, 'blocked');
    assert.match(thirty.error?.message ?? '', /deactivate 30 profiles \(limit 5\), out of 40 linked active profiles/);
  });

  test('a company of five linked people losing all five is blocked: the limit is never most of the company', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(5));
    companies.push(companyId);
    await runSync(stack, stack.taskQueue, companyId);
    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => ({ ...u, dtContractEnd: luccaDate('2026-01-31') })));

    const leaving = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([leaving.status, leaving.error?.code], ['blocked', 'mass-deactivation']);
    assert.match(leaving.error?.message ?? '', /deactivate 5 profiles \(limit 2\), out of 5 linked active profiles/);
    assert.ok((await profilesOf(stack, companyId)).every((p) => p.status === 'active'));
  });

  test('1,000 linked people with first and last names swapped are blocked by the overwrite guard, per field', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(1_000));
    companies.push(companyId);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, 1_000);
    const before = await profilesOf(stack, companyId);

    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => ({ ...u, firstName: u.lastName, lastName: u.firstName })));
    const swapped = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([swapped.status, swapped.error?.code], ['blocked', 'mass-overwrite']);
    assert.deepEqual((await stack.repos.syncRuns.get(swapped.runId))?.guard?.fired, [
      { guard: 'overwrite', field: 'firstName', count: 1_000, limit: 100 },
      { guard: 'overwrite', field: 'lastName', count: 1_000, limit: 100 },
    ]);
    assert.deepEqual(await profilesOf(stack, companyId), before, 'nothing written');

    // Its threshold is the company's own, like the other guards': at 0, one renamed person blocks.
    stack.lucca.mutateUsers(tenant, () => staff(1_000).map((u) => (u.id === 7 ? { ...u, lastName: 'Durand' } : u)));
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).status, 'succeeded', 'one of 1,000 passes');
    await stack.repos.companies.setGuard(companyId, 'overwrite', { maxPercent: 0, minCount: 0 }, new Date());
    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => (u.id === 8 ? { ...u, lastName: 'Durand' } : u)));
    const one = await runSync(stack, stack.taskQueue, companyId);
    assert.deepEqual([one.status, one.error?.code], ['blocked', 'mass-overwrite']);
    assert.match(one.error?.message ?? '', /overwrite lastName on 1 profiles \(limit 0\)/);
  });

  test('a blocked run keeps who its changes touch past ten times the ids one document holds', async () => {
    const per = ReviewedChangesRepository.IDS_PER_DOCUMENT;
    const ids = Array.from({ length: 10 * per + 7 }, (_, i) => 3 * i + 1);
    const people = new Map([
      ['deactivate', ids],
      ['overwrite:lastName', ids.slice(0, 3)],
    ]);
    const companyId = `co-${uniqueSuffix()}`;
    await stack.repos.reviewed.store(companyId, 'run-big', people);
    const read = await stack.repos.reviewed.read(companyId, 'run-big');
    assert.equal(read?.get('deactivate')?.size, ids.length);
    assert.ok(ids.every((id) => read?.get('deactivate')?.has(id)));
    assert.deepEqual([...(read?.get('overwrite:lastName') ?? [])], ids.slice(0, 3));

    // A later run of the company drops it; another company's are kept.
    await stack.repos.reviewed.store('other-company', 'run-other', people);
    await stack.repos.reviewed.dropOthers(companyId, 'run-later');
    assert.equal(await stack.repos.reviewed.read(companyId, 'run-big'), null);
    assert.notEqual(await stack.repos.reviewed.read('other-company', 'run-other'), null);
  });
});
