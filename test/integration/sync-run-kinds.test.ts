import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addDays } from '../../dev-tools/fake-lucca/dates';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import { loadConfig } from '../../config/env';
import { connectMongo, repositories } from '../../db/mongo';
import { getSyncReport } from '../../operations';
import { onboardCompany } from '../../operations/onboard';
import { SyncKindAttribute } from '../../temporal/search-attributes';
import { syncRunWorkflowId } from '../../temporal/ids';
import { companyWorkflowId, datesScheduleId } from '../../temporal/ids';
import { companySyncWorkflow } from '../../workflows';
import { statusQuery, syncNowSignal } from '../../workflows/messages';
import {
  forgetCompanies,
  MONGODB_URI,
  newApiKey,
  openStack,
  recordHistory,
  stackEnv,
  uniqueSuffix,
  type Stack,
} from './helpers';
import {
  addTestCompany,
  changeFor,
  clockDeps,
  linkedProfile,
  luccaDate,
  luccaUser,
  runSync,
  staff,
  startWorker,
  TODAY,
  until,
  type RunningWorker,
  type TestClock,
} from './sync-kit';

// Run kinds on the real stack: an incremental run against a Lucca that honours `modifiedAt` and one
// that ignores it, a date roll that reads nothing, one employee re-synced. The worker's clock is the
// test's (`clockDeps`), on TODAY: the users planted here were modified in January, the fake stamps
// what a test changes with its own (real) clock, months after.

let stack: Stack;
let worker: RunningWorker;
const clock: TestClock = { today: TODAY };
const taskQueue = `test-run-kinds-${uniqueSuffix()}`;

before(async () => {
  stack = await openStack('run_kinds');
  worker = await startWorker(stack, taskQueue, clockDeps(clock));
});

after(async () => {
  await worker?.stop();
  await stack?.close();
});

/** The users requests the tenant received since the log was cleared. */
const usersRequests = (tenant: string) =>
  stack.lucca.requests(tenant).filter((r) => r.path.startsWith('/api/v3/users'));

async function kindAttribute(companyId: string, runId: string): Promise<string | undefined> {
  const described = await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, runId)).describe();
  return described.typedSearchAttributes.get(SyncKindAttribute);
}

const newRunId = () => `run-${uniqueSuffix()}`;

describe('incremental runs', () => {
  test('between full reads, a run reads only the users modified since, applies them, and removes nobody', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    const full = await runSync(stack, taskQueue, companyId, { kind: 'full' });
    assert.equal(full.counts?.created, 30);
    assert.equal(full.kind, 'full');

    stack.lucca.mutateUsers(tenant, (users) => [
      ...users.filter((u) => u.id !== 7).map((u) => (u.id === 5 ? { ...u, lastName: 'Nouveau-Nom' } : u)),
      luccaUser(31),
    ]);
    stack.lucca.clearRequests();
    const runId = newRunId();
    const incremental = await runSync(stack, taskQueue, companyId, { runId, trigger: 'schedule', kind: 'incremental' });

    assert.equal(incremental.kind, 'incremental');
    assert.equal(incremental.status, 'succeeded');
    const requests = usersRequests(tenant);
    assert.equal(requests.length, 1, 'one request: the modified users fit a page');
    assert.match(requests[0]!.query.modifiedAt ?? '', /^since,\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    assert.deepEqual(
      { seen: incremental.counts?.seen, created: incremental.counts?.created, updated: incremental.counts?.updated },
      { seen: 2, created: 1, updated: 1 },
    );
    assert.equal(incremental.counts?.deactivated, 0, 'an incremental read cannot see that user 7 left');
    assert.equal((await linkedProfile(stack, companyId, 5)).lastName, 'Nouveau-Nom');
    assert.equal((await linkedProfile(stack, companyId, 7)).status, 'active');
    const run = await stack.repos.syncRuns.get(runId);
    assert.equal(run?.kind, 'incremental');
    assert.equal(run?.read?.since, requests[0]!.query.modifiedAt?.slice('since,'.length));
    assert.equal(await kindAttribute(companyId, runId), 'incremental');
    await recordHistory(stack, 'incremental', syncRunWorkflowId(companyId, runId));

    // Nothing changed since: one empty page, nothing planned.
    stack.lucca.clearRequests();
    const unchanged = await runSync(stack, taskQueue, companyId, { trigger: 'schedule', kind: 'incremental' });
    assert.equal(unchanged.kind, 'incremental');
    assert.equal(usersRequests(tenant).length, 1);
    assert.equal(unchanged.profileWrites, 0);

    // The next full read sees the absence.
    const next = await runSync(stack, taskQueue, companyId, { kind: 'full' });
    assert.equal(next.counts?.deactivated, 1);
    const removal = await changeFor(stack, next.runId, 7);
    assert.deepEqual(
      removal.flatMap((c) => c.reasons.map((r) => r.code)),
      ['removed-from-lucca'],
    );
  });

  test('an incremental run costs what it read: with nobody modified it reads no profile; with two, it plans those two and leaves the others to full and date runs', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(20));
    await runSync(stack, taskQueue, companyId, { kind: 'full' });
    // A platform edit the next full read overwrites (Lucca wins), and which a date roll would act on.
    await stack.store.profiles.updateOne(
      { companyId, 'lucca.userId': 9 },
      { $set: { contractEnd: addDays(TODAY, -1) } },
    );
    // A worker of its own, whose MongoDB commands are counted.
    const watched = await connectMongo(MONGODB_URI, stack.db.databaseName, { monitorCommands: true });
    const queue = `${taskQueue}-watched`;
    const counted = await startWorker(stack, queue, { ...clockDeps(clock), repos: repositories(watched.db) });
    let profileReads = 0;
    watched.client.on('commandStarted', (e) => {
      if (['find', 'aggregate', 'count'].includes(e.commandName) && e.command[e.commandName] === 'profiles') {
        profileReads += 1;
      }
    });
    try {
      const unchanged = await runSync(stack, queue, companyId, { trigger: 'schedule', kind: 'incremental' });
      assert.equal(unchanged.kind, 'incremental');
      assert.equal(unchanged.counts?.seen, 0);
      assert.equal(profileReads, 0, 'nobody read, no profile read');

      stack.lucca.mutateUsers(tenant, (users) =>
        users.map((u) => (u.id === 4 || u.id === 12 ? { ...u, firstName: `Zoé${u.id}` } : u)),
      );
      const changed = await runSync(stack, queue, companyId, { trigger: 'schedule', kind: 'incremental' });
      assert.equal(changed.kind, 'incremental');
      assert.deepEqual(
        { seen: changed.counts?.seen, updated: changed.counts?.updated, deactivated: changed.counts?.deactivated },
        { seen: 2, updated: 2, deactivated: 0 },
      );
      assert.ok(profileReads > 0, 'two users read: their profiles are looked up');
      assert.equal((await linkedProfile(stack, companyId, 12)).firstName, 'Zoé12');
      assert.equal((await linkedProfile(stack, companyId, 9)).status, 'active', 'not read: left as it is');
    } finally {
      await counted.stop();
      await watched.client.close();
    }
    const full = await runSync(stack, taskQueue, companyId, { kind: 'full' });
    assert.equal(full.counts?.updated, 1, 'the full read puts back what Lucca says');
    assert.equal((await linkedProfile(stack, companyId, 9)).contractEnd, null);
  });

  test('a Lucca that ignores the modification filter answers everyone: the run is a full read, removals included', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(12));
    stack.lucca.setModifiedFilter(tenant, 'ignore');
    await runSync(stack, taskQueue, companyId, { kind: 'full' });
    stack.lucca.mutateUsers(tenant, (users) =>
      users.filter((u) => u.id !== 3).map((u) => (u.id === 4 ? { ...u, firstName: 'Zoé' } : u)),
    );
    stack.lucca.clearRequests();
    const runId = newRunId();
    const result = await runSync(stack, taskQueue, companyId, { runId, trigger: 'schedule', kind: 'incremental' });

    assert.ok(usersRequests(tenant)[0]?.query.modifiedAt?.startsWith('since,'), 'the filter was asked for');
    assert.equal(result.kind, 'full');
    assert.equal(result.counts?.seen, 11);
    assert.equal(result.counts?.deactivated, 1);
    assert.equal((await linkedProfile(stack, companyId, 3)).status, 'former');
    assert.equal((await linkedProfile(stack, companyId, 4)).firstName, 'Zoé');
    const run = await stack.repos.syncRuns.get(runId);
    assert.deepEqual([run?.kind, run?.requestedKind], ['full', 'incremental']);
    assert.match(run?.read?.fullBecause ?? '', /ignored the modification filter/);
    assert.equal(await kindAttribute(companyId, runId), 'full');
  });

  test('with no complete read applied yet, an incremental run reads everyone', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(4));
    stack.lucca.clearRequests();
    const result = await runSync(stack, taskQueue, companyId, { trigger: 'schedule', kind: 'incremental' });
    assert.equal(result.kind, 'full');
    assert.equal(usersRequests(tenant)[0]?.query.modifiedAt, undefined);
    assert.equal(result.counts?.created, 4);
  });
});

describe('the company workflow', () => {
  test("a schedule firing's request reads incrementally once a full read is applied; an operator's reads in full", async () => {
    const { companyId } = await addTestCompany(stack, staff(3));
    const handle = await stack.client.workflow.start(companySyncWorkflow, {
      taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId }],
    });
    const lastKind = async (runs: number) => {
      const status = await handle.query(statusQuery);
      return status.lastRun && status.runsSinceContinueAsNew >= runs ? status.lastRun : undefined;
    };
    try {
      await handle.signal(syncNowSignal, { trigger: 'schedule' });
      assert.equal((await until('the first run', () => lastKind(1))).kind, 'full', 'nothing applied yet');
      await handle.signal(syncNowSignal, { trigger: 'schedule' });
      assert.equal((await until('the second run', () => lastKind(2))).kind, 'incremental');
      await handle.signal(syncNowSignal, { requestedBy: 'operator' });
      assert.equal((await until('the third run', () => lastKind(3))).kind, 'full');
      await recordHistory(stack, 'run-kinds', handle.workflowId);
    } finally {
      await handle.terminate('test over');
    }
  });
});

describe('one employee', () => {
  test('a one-user run reads that user alone and applies it; one Lucca no longer has is deactivated', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(10));
    await runSync(stack, taskQueue, companyId, { kind: 'full' });
    stack.lucca.mutateUsers(tenant, (users) =>
      users.filter((u) => u.id !== 9).map((u) => (u.id === 4 || u.id === 6 ? { ...u, lastName: `Corrigé${u.id}` } : u)),
    );
    stack.lucca.clearRequests();
    const runId = newRunId();
    const result = await runSync(stack, taskQueue, companyId, { runId, kind: 'one-user', luccaUserId: 4 });

    assert.equal(result.kind, 'one-user');
    assert.deepEqual([result.counts?.seen, result.counts?.updated], [1, 1]);
    const requests = usersRequests(tenant);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.query.id, '4');
    assert.equal((await linkedProfile(stack, companyId, 4)).lastName, 'Corrigé4');
    assert.equal((await linkedProfile(stack, companyId, 6)).lastName, 'Lefèvre6', 'only the user asked for');
    assert.equal((await stack.repos.syncRuns.get(runId))?.luccaUserId, 4);
    await recordHistory(stack, 'one-user', syncRunWorkflowId(companyId, runId));

    const gone = await runSync(stack, taskQueue, companyId, { kind: 'one-user', luccaUserId: 9 });
    assert.equal(gone.counts?.deactivated, 1);
    assert.equal((await linkedProfile(stack, companyId, 9)).status, 'former');
    assert.equal((await linkedProfile(stack, companyId, 6)).status, 'active');
  });
});

describe('dates roll on time', () => {
  test('the day after a contract ends, a date run deactivates the leaver and starts the hire, with no Lucca request', async () => {
    const leaver = luccaUser(2, { dtContractEnd: luccaDate(TODAY) });
    const hire = luccaUser(3, { dtContractStart: luccaDate(addDays(TODAY, 1)) });
    const users: LuccaRawUser[] = [luccaUser(1), leaver, hire, luccaUser(4)];
    const { companyId, tenant } = await addTestCompany(stack, users);
    await runSync(stack, taskQueue, companyId, { kind: 'full' });
    assert.equal((await linkedProfile(stack, companyId, 2)).status, 'active', 'the end date itself is still worked');
    assert.equal((await linkedProfile(stack, companyId, 3)).status, 'upcoming');

    clock.today = addDays(TODAY, 1);
    try {
      stack.lucca.clearRequests();
      const runId = newRunId();
      const rolled = await runSync(stack, taskQueue, companyId, { runId, trigger: 'schedule', kind: 'dates' });
      assert.equal(stack.lucca.requests(tenant).length, 0, 'no Lucca request');
      assert.equal(rolled.kind, 'dates');
      assert.deepEqual([rolled.counts?.deactivated, rolled.counts?.updated], [1, 1]);
      assert.equal((await linkedProfile(stack, companyId, 2)).status, 'former');
      assert.equal((await linkedProfile(stack, companyId, 3)).status, 'active');
      assert.equal((await linkedProfile(stack, companyId, 1)).status, 'active');
      assert.deepEqual(
        (await changeFor(stack, runId, 2)).flatMap((c) => c.reasons.map((r) => r.code)),
        ['contract-ended'],
      );
      assert.equal(await kindAttribute(companyId, runId), 'dates');
      await recordHistory(stack, 'dates', syncRunWorkflowId(companyId, runId));
    } finally {
      clock.today = TODAY;
    }
  });
});

describe("the company's date schedule", () => {
  test('fired, it asks for a date run: with no Lucca request, the contract that ended yesterday makes a leaver and the hire starting today is active, reported like any run', async () => {
    const yesterday = addDays(TODAY, -1);
    const companyId = `dates-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    const users: LuccaRawUser[] = [
      luccaUser(1),
      luccaUser(2, { dtContractEnd: luccaDate(yesterday) }),
      luccaUser(3, { dtContractStart: luccaDate(TODAY) }),
      luccaUser(4),
    ];
    stack.lucca.addTenant(companyId, { users, apiKeys: [{ key: apiKey }], today: yesterday, rateLimit: false });
    // A worker that serves schedule firings (it needs a Temporal client), on the test's clock.
    const scheduleQueue = `test-dates-schedule-${uniqueSuffix()}`;
    const firing = await startWorker(stack, scheduleQueue, {
      ...clockDeps(clock),
      temporal: { client: stack.client, taskQueue: scheduleQueue },
    });
    const deps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ ...stackEnv(stack), TASK_QUEUE: scheduleQueue }),
    };
    const finishedRun = (match: (kind: string | undefined) => boolean) =>
      until('a finished run', async () => {
        const runs = await stack.repos.syncRuns.list(companyId, 10);
        return runs.find((r) => match(r.kind) && r.status !== 'running');
      });

    clock.today = yesterday;
    try {
      await onboardCompany(deps, {
        companyId,
        name: 'Dates',
        luccaUrl: stack.lucca.tenantUrl(companyId),
        apiKey,
        requestedBy: 'test',
      });
      const first = await finishedRun((kind) => kind === 'full');
      assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
      assert.equal((await linkedProfile(stack, companyId, 2)).status, 'active', 'its last day is still worked');
      assert.equal((await linkedProfile(stack, companyId, 3)).status, 'upcoming');

      clock.today = TODAY;
      stack.lucca.clearRequests();
      await stack.client.schedule.getHandle(datesScheduleId(companyId)).trigger();
      const rolled = await finishedRun((kind) => kind === 'dates');

      assert.equal(stack.lucca.requests(companyId).length, 0, 'no Lucca request');
      assert.deepEqual(
        [rolled.status, rolled.trigger, rolled.requestedBy, rolled.counts?.deactivated, rolled.counts?.updated],
        ['succeeded', 'schedule', 'schedule', 1, 1],
      );
      assert.equal((await linkedProfile(stack, companyId, 2)).status, 'former');
      assert.equal((await linkedProfile(stack, companyId, 3)).status, 'active');
      assert.equal((await linkedProfile(stack, companyId, 1)).status, 'active');
      const report = await getSyncReport(deps, { companyId, runId: rolled._id, perAction: 'all' });
      assert.deepEqual(
        report.groups.map((g) => [g.action, g.changes.map((c) => [c.luccaUserId, c.reasons.map((r) => r.code)])]),
        [
          ['update', [[3, []]]],
          ['deactivate', [[2, ['contract-ended']]]],
        ],
      );
      assert.equal(await kindAttribute(companyId, rolled._id), 'dates');
    } finally {
      clock.today = TODAY;
      await stack.client.schedule
        .getHandle(datesScheduleId(companyId))
        .delete()
        .catch(() => undefined);
      await forgetCompanies(stack, [companyId], 'test over');
      await firing.stop();
    }
  });
});
