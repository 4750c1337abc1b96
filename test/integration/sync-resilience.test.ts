import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { companySyncWorkflow, syncRunWorkflow } from '../../workflows';
import { runResult } from '../../temporal/client';
import { statusQuery, syncNowSignal } from '../../workflows/messages';
import { companyWorkflowId, syncRunWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute } from '../../temporal/search-attributes';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { found, personalData, readableHistory } from './privacy-kit';
import {
  MONGODB_URI,
  openStack,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  FAKE_LUCCA_HOSTS,
  type Stack,
  workflowBundleFile,
} from './helpers';
import {
  addTestCompany,
  changesOf,
  FAST_RETRIES,
  profilesOf,
  profileViews,
  runSync,
  startWorker,
  TODAY,
  until,
  updatedStamps,
  type RunningWorker,
} from './sync-kit';

describe('a sync run surviving crashes, keeping history clean and scaling', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('resilience');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  test('a worker killed mid-read is replaced and the run ends with the same profiles as an uninterrupted run', async () => {
    const users = generateLuccaUsers({ size: 300, seed: 21, today: TODAY });
    const crashed = await addTestCompany(stack, users);
    const reference = await addTestCompany(stack, users);
    // Each page of the crashed company takes ~600 ms: time enough to kill the worker between pages.
    stack.lucca.addFault({ tenant: crashed.tenant, kind: 'slow', delayMs: 600, times: Infinity });
    const taskQueue = `${stack.taskQueue}-crash`;
    const lucca = { timeoutMs: 5_000, rateLimit: null, pageSize: 50, allowedHosts: FAKE_LUCCA_HOSTS };
    const bundleFile = await workflowBundleFile();

    let child: ChildWorker | undefined;
    let replacement: RunningWorker | undefined;
    try {
      // A worker process built as the real one is (`runWorker`), so it can die the way a pod does.
      child = await ChildWorker.start({
        temporalAddress: TEMPORAL_ADDRESS,
        mongoUri: MONGODB_URI,
        mongoDb: stack.db.databaseName,
        taskQueue,
        secret: TEST_SECRET,
        bundlePath: bundleFile,
        pageSize: lucca.pageSize,
        logLevel: 'error',
      });

      const runId = `run-${uniqueSuffix()}`;
      const handle = await stack.client.workflow.start(syncRunWorkflow, {
        taskQueue,
        workflowId: syncRunWorkflowId(crashed.companyId, runId),
        args: [
          {
            companyId: crashed.companyId,
            runId,
            trigger: 'manual',
            requestedBy: 'test',
            dryRun: false,
            tuning: { ...FAST_RETRIES, heartbeatTimeoutMs: 3_000 },
          },
        ],
      });
      // Past the first heartbeat flush (0.8 × heartbeat timeout), so the server holds a checkpoint.
      await until('five pages read', async () => {
        const run = await stack.repos.syncRuns.get(runId);
        return (run?.progress.pagesRead ?? 0) >= 5 ? true : undefined;
      });
      await child.kill();
      const pagesBeforeCrash = (await stack.repos.syncRuns.get(runId))?.progress.pagesRead ?? 0;
      assert.ok(pagesBeforeCrash < 7, 'the worker died before the read was over');

      replacement = await startWorker(stack, taskQueue, { lucca });
      const result = await runResult(handle);
      const referenceResult = await runSync(stack, taskQueue, reference.companyId);

      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      const profiles = await profilesOf(stack, crashed.companyId);
      assert.deepEqual(profileViews(profiles), profileViews(await profilesOf(stack, reference.companyId)));
      const ids = profiles.map((p) => p.lucca?.userId);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate profile');
      assert.deepEqual(result.counts, referenceResult.counts);
      assert.equal(result.counts?.seen, 300);
      assert.equal(profiles.length, result.counts.created + result.counts.linked);
      const changes = await changesOf(stack, runId);
      const { seen, unchanged } = result.counts;
      assert.equal(changes.length, seen - unchanged, 'one change per changed user, none twice');
      assert.equal((await stack.repos.syncRuns.get(runId))?.status, 'succeeded');
      const firstPageReads = stack.lucca
        .requests(crashed.tenant)
        .filter((r) => r.query.paging === `0,${lucca.pageSize}`).length;
      assert.equal(firstPageReads, 1, 'the retried read resumed from its checkpoint instead of page one');
    } finally {
      await child?.kill();
      await replacement?.stop();
      await rm(bundleFile, { force: true });
    }
  });

  test("neither the API key nor any employee's data reaches the Temporal history of a run or of the company workflow", async () => {
    const users = generateLuccaUsers({ size: 60, seed: 5, today: TODAY });
    const { companyId, tenant, apiKey } = await addTestCompany(stack, users);
    const direct = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(direct.status, 'succeeded');

    // Change everyone's data so the company workflow's run carries updates, not only no-ops.
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => ({ ...u, lastName: `${u.lastName ?? 'X'}-Rénové`, mail: u.mail ? `new.${u.mail}` : u.mail })),
    );
    const blocked = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(blocked.status, 'blocked');
    const companyHandle = await stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: FAST_RETRIES }],
      signal: syncNowSignal,
      // Every email changes: past the email guard, confirmed.
      signalArgs: [{ requestedBy: 'history-test', override: { blockedRunId: blocked.runId } }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
    try {
      const lastRun = await until('the company run to finish', async () => {
        return (await companyHandle.query(statusQuery)).lastRun ?? undefined;
      });
      assert.equal(lastRun.status, 'succeeded');
      assert.ok((lastRun.counts?.updated ?? 0) > 0, 'the company run carried updates');

      const histories = {
        directRun: readableHistory(
          await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, direct.runId)).fetchHistory(),
        ),
        companyRun: readableHistory(
          await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, lastRun.runId)).fetchHistory(),
        ),
        company: readableHistory(await companyHandle.fetchHistory()),
      };
      // The scan must see decoded payloads, or it would prove nothing.
      assert.ok(histories.directRun.includes(direct.summary), 'payloads are decoded');
      assert.ok(histories.company.includes(lastRun.summary), 'payloads are decoded');

      const secrets = [apiKey, ...personalData(users), ...personalData(stack.lucca.getUsers(tenant))];
      for (const [name, text] of Object.entries(histories)) {
        assert.ok(!text.includes(apiKey), `${name}: the API key is not in history`);
        const leaks = found(text, secrets);
        assert.deepEqual(leaks, [], `${name}: personal data in history`);
      }
    } finally {
      await companyHandle.terminate('test over');
    }
  });

  test('a 5,000-employee company syncs from a fresh database, then re-syncs with zero profile writes', async () => {
    const fresh = await openStack('scale');
    const scaleWorker = await startWorker(fresh, fresh.taskQueue);
    try {
      const users = generateLuccaUsers({ size: 5000, seed: 3, today: TODAY });
      const { companyId } = await addTestCompany(fresh, users);
      assert.equal(await fresh.store.profiles.countDocuments({}), 0, 'the database starts empty');

      const first = await runSync(fresh, fresh.taskQueue, companyId);

      assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
      assert.equal(first.counts?.seen, 5000);
      const profiles = await profilesOf(fresh, companyId);
      assert.equal(profiles.length, first.counts.created);
      assert.equal(first.profileWrites, first.counts.created);
      assert.ok(first.counts.created > 4500, `created ${first.counts.created}`);
      const ids = profiles.map((p) => p.lucca?.userId);
      assert.equal(new Set(ids).size, ids.length, 'one profile per Lucca user');
      const stamps = updatedStamps(profiles);

      const second = await runSync(fresh, fresh.taskQueue, companyId);

      assert.equal(second.status, 'succeeded');
      assert.equal(second.profileWrites, 0);
      assert.equal(second.counts?.unchanged, 5000 - second.counts!.skipped - second.counts!.conflicts);
      assert.deepEqual(updatedStamps(await profilesOf(fresh, companyId)), stamps, 'no profile updatedAt changed');
    } finally {
      await scaleWorker.stop();
      await fresh.close();
    }
  });
});
