import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ActivityFailure, type ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../config/env';
import type { Repositories } from '../../db/mongo';
import type { SyncRunStart } from '../../db/sync-runs-repository';
import { failureType } from '../../domain/failures';
import { OperationError, requestSync, type OperationsDeps } from '../../operations';
import { offboardCompany } from '../../operations/offboard';
import { scheduledSyncWorkflow } from '../../workflows';
import { signalSyncNowWithStart } from '../../temporal/client';
import { companyWorkflowId, syncRunWorkflowId } from '../../temporal/ids';
import { FAKE_LUCCA_HOSTS, forgetCompanies, openStack, recordHistory, type Stack } from './helpers';
import { addTestCompany, FAST_RETRIES, staff, startSync, startWorker, until, type RunningWorker } from './sync-kit';

describe('offboarding a company, on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('offboard');
    // Small pages, so that a slow Lucca makes a read of many pages: time to offboard in the middle.
    worker = await startWorker(stack, stack.taskQueue, {
      temporal: { client: stack.client, taskQueue: stack.taskQueue },
      lucca: { timeoutMs: 5_000, rateLimit: null, pageSize: 20, allowedHosts: FAKE_LUCCA_HOSTS },
    });
    deps = { repos: stack.repos, client: stack.client, config: loadConfig({}) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await worker.stop();
    await stack.close();
  });

  async function workingCollections(runId: string): Promise<string[]> {
    const names = (await stack.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    return ['syncStaging', 'syncPlan', 'syncJournal'].map((p) => `${p}.${runId}`).filter((n) => names.includes(n));
  }

  const workflowStatus = async (workflowId: string) =>
    (await stack.client.workflow.getHandle(workflowId).describe()).status.name;

  /** A schedule firing of the company, as its schedule starts one (the workflow its retries run in). */
  const fire = (companyId: string, workflowId = `company-sync-scheduled:${companyId}-${Date.now()}`) =>
    stack.client.workflow.execute(scheduledSyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId,
      args: [{ companyId }],
    });

  /** The failure a firing ended with: its activity's, as the firing workflow carries it. */
  function firingFailure(err: unknown): ApplicationFailure {
    assert.ok(
      err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure,
      `the firing failed (${String(err)})`,
    );
    return err.cause.cause as ApplicationFailure;
  }

  test('offboarding mid-run cancels the run: it ends failed with code cancelled, and leaves no staging or plan behind', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(400));
    companies.push(companyId);
    // 20 pages of 20 users, each answered after a second.
    stack.lucca.addFault({ tenant, kind: 'slow', delayMs: 1_000, times: Infinity });
    // As an operator's sync starts it: the company workflow with production settings (no tuning).
    await signalSyncNowWithStart(stack.client, stack.taskQueue, companyId, { requestedBy: 'test' });
    const running = await until('the run to stage and plan a few pages', async () => {
      const run = await stack.repos.syncRuns.latest(companyId);
      return run && run.progress.pagesRead >= 3 ? run : undefined;
    });
    assert.equal(running.status, 'running');
    assert.ok((await workingCollections(running._id)).includes(`syncStaging.${running._id}`));

    const startedAt = Date.now();
    const result = await offboardCompany(deps, { companyId, requestedBy: 'test', waitMs: 60_000 });

    assert.equal(result.workflow, 'ended', 'the company workflow ended within the wait');
    assert.ok(Date.now() - startedAt < 30_000, `the run stopped within seconds (${Date.now() - startedAt} ms)`);
    const run = (await stack.repos.syncRuns.get(running._id))!;
    assert.equal(run.status, 'failed');
    assert.equal(run.error?.code, 'cancelled');
    assert.match(run.error?.message ?? '', /cancelled while reading Lucca; no profile was written/);
    assert.ok(run.finishedAt);
    assert.ok(run.progress.pagesRead < 20, 'it stopped before the end of the read');
    assert.deepEqual(await workingCollections(running._id), [], 'no syncStaging, syncPlan or syncJournal left');
    assert.equal(await workflowStatus(companyWorkflowId(companyId)), 'CANCELLED');
    assert.equal(await workflowStatus(syncRunWorkflowId(companyId, running._id)), 'CANCELLED');
    assert.equal((await stack.repos.companies.get(companyId))!.lucca.apiKey, null);
    assert.deepEqual(result.runsStillRunning, []);
    await recordHistory(stack, 'outcome-cancelled', syncRunWorkflowId(companyId, running._id));
    await recordHistory(stack, 'bounded-cancelled', syncRunWorkflowId(companyId, running._id));
    await recordHistory(stack, 'requests-cancelled', companyWorkflowId(companyId));
  });

  test('offboarding with no workflow running still removes the staging its earlier runs left, and only theirs', async () => {
    const { companyId } = await addTestCompany(stack, staff(5));
    const { companyId: otherCompany } = await addTestCompany(stack, staff(5));
    const leftover = async (company: string, runId: string) => {
      await stack.repos.syncRuns.start({
        runId,
        companyId: company,
        trigger: 'manual',
        requestedBy: 'test',
        dryRun: false,
        workflowId: syncRunWorkflowId(company, runId),
        temporalRunId: '',
        now: new Date(),
      });
      await stack.repos.syncRuns.finish(runId, { status: 'failed', error: null, profileWrites: 0 }, new Date());
      await stack.repos.workingData.stagePage(runId, 0, 0, []);
    };
    const ours = `${companyId}-crashed`;
    const theirs = `${otherCompany}-crashed`;
    await leftover(companyId, ours);
    await leftover(otherCompany, theirs);

    const result = await offboardCompany(deps, { companyId, requestedBy: 'test' });

    assert.equal(result.workflow, 'not-running');
    assert.deepEqual(result.workingDataRemoved, [ours]);
    assert.deepEqual(await workingCollections(ours), []);
    assert.deepEqual(await workingCollections(theirs), [`syncStaging.${theirs}`], "another company's run is untouched");
    assert.equal((await stack.repos.companies.get(companyId))!.lucca.apiKey, null);
  });

  test('offboarding does not hang when the workflow cannot end in time: it says so, and the cancellation stays requested', async () => {
    const { companyId } = await addTestCompany(stack, staff(5));
    companies.push(companyId);
    // A task queue no worker polls: the company workflow cannot act on its cancellation.
    await signalSyncNowWithStart(stack.client, `${stack.taskQueue}-no-worker`, companyId, { requestedBy: 'test' });

    const startedAt = Date.now();
    const result = await offboardCompany(deps, { companyId, requestedBy: 'test', waitMs: 1_500 });

    assert.equal(result.workflow, 'still-running');
    assert.ok(Date.now() - startedAt < 10_000, 'bounded by the wait');
    assert.equal((await stack.repos.companies.get(companyId))!.lucca.apiKey, null, 'the key is erased all the same');
    const history = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).fetchHistory();
    assert.ok(
      history.events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes),
      'the cancellation is recorded, for when a worker comes',
    );
  });

  test('a schedule firing that comes after offboarding (a retry come late) fails for good and starts no workflow; so does one for a company that never was', async () => {
    const { companyId } = await addTestCompany(stack, staff(5));
    companies.push(companyId);
    await offboardCompany(deps, { companyId, requestedBy: 'test' });

    const late = firingFailure(
      await fire(companyId).then(
        () => null,
        (err: unknown) => err,
      ),
    );
    assert.equal(late.type, failureType('offboarded'));
    assert.equal(late.nonRetryable, true);
    await assert.rejects(
      stack.client.workflow.getHandle(companyWorkflowId(companyId)).describe(),
      WorkflowNotFoundError,
      'no company workflow was started',
    );

    const unknown = firingFailure(
      await fire('never-onboarded').then(
        () => null,
        (err: unknown) => err,
      ),
    );
    assert.equal(unknown.type, failureType('company-not-found'));
    assert.equal(unknown.nonRetryable, true);
    await assert.rejects(
      stack.client.workflow.getHandle(companyWorkflowId('never-onboarded')).describe(),
      WorkflowNotFoundError,
    );
  });

  test('schedule firings and requests coming during offboarding leave no company workflow running', async (t) => {
    const { companyId, tenant } = await addTestCompany(stack, staff(200));
    companies.push(companyId);
    // A run in flight, slowly (a second a page of 20): offboarding waits while it stops.
    stack.lucca.addFault({ tenant, kind: 'slow', delayMs: 1_000, times: Infinity });
    await signalSyncNowWithStart(stack.client, stack.taskQueue, companyId, { requestedBy: 'test' });
    await until('the run to read a page', async () => {
      const run = await stack.repos.syncRuns.latest(companyId);
      return run && run.progress.pagesRead >= 1 ? run : undefined;
    });

    // Firings keep coming, as a schedule's retried firings would, before, during and after offboarding.
    let offboarded = false;
    const firings: Promise<unknown>[] = [];
    const firing = (async () => {
      for (let i = 0, afterwards = 0; !offboarded || afterwards++ < 3; i++) {
        firings.push(
          fire(companyId, `company-sync-scheduled:${companyId}-${i}`).then(
            () => 'accepted',
            (err: unknown) => err,
          ),
        );
        await sleep(400);
      }
    })();
    const offboarding = Date.now();
    const result = await offboardCompany(deps, { companyId, requestedBy: 'test', waitMs: 60_000 });
    t.diagnostic(`offboarding took ${Date.now() - offboarding} ms, ${firings.length} firings sent meanwhile`);
    const refusedRequest = await requestSync(deps, { companyId }).then(
      () => null,
      (err: unknown) => err,
    );
    offboarded = true;
    await firing;
    const outcomes = await Promise.all(firings);
    t.diagnostic(`${firings.length} firings in all, over ${Date.now() - offboarding} ms`);

    assert.notEqual(await workflowStatus(companyWorkflowId(companyId)), 'RUNNING', 'no company workflow left running');
    assert.equal(result.workflow, 'ended');
    assert.ok(refusedRequest instanceof OperationError && refusedRequest.code === 'offboarded', String(refusedRequest));
    const refused = outcomes.filter((o) => o !== 'accepted').map((o) => firingFailure(o).type);
    assert.ok(refused.length >= 3, `firings after offboarding were refused (${outcomes.length} firings)`);
    assert.deepEqual([...new Set(refused)], [failureType('offboarded')]);
  });

  test('a run cancelled while its start is being recorded ends failed, code cancelled, instead of staying running', async () => {
    const { companyId } = await addTestCompany(stack, staff(5));
    // The run's first activity holds before its write until the test lets it go: the cancellation
    // reaches the run while that activity is in flight.
    const starts: SyncRunStart[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const syncRuns = Object.create(stack.repos.syncRuns) as Repositories['syncRuns'];
    syncRuns.start = async (s: SyncRunStart) => {
      starts.push(s);
      await gate;
      return stack.repos.syncRuns.start(s);
    };
    const taskQueue = `${stack.taskQueue}-held-start`;
    const held = await startWorker(stack, taskQueue, { repos: { ...stack.repos, syncRuns } });
    try {
      const runId = `held-${Date.now()}`;
      const handle = await startSync(stack, taskQueue, companyId, { runId, tuning: FAST_RETRIES });
      await until('the run to be starting', async () => (starts.length > 0 ? true : undefined));
      await handle.cancel();
      // The run reacts to its cancellation at once (it does not wait for the held start): then the start is let go.
      await until('the run to react to its cancellation', async () =>
        starts.length > 1 || (await handle.describe()).status.name !== 'RUNNING' ? true : undefined,
      );
      release();
      await assert.rejects(handle.result(), WorkflowFailedError);
      await until('the run to be recorded', async () => (await stack.repos.syncRuns.get(runId)) ?? undefined);
      const run = (await stack.repos.syncRuns.get(runId))!;
      assert.equal(run.status, 'failed', 'not left running for the sweeper to call abandoned');
      assert.equal(run.error?.code, 'cancelled');
      assert.match(run.error?.message ?? '', /cancelled as it started; no profile was written/);
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      await recordHistory(stack, 'cancelled-while-starting', handle.workflowId);
    } finally {
      release();
      await held.stop();
    }
  });
});
