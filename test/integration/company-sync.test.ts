import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { companySyncWorkflow } from '../../workflows';
import {
  statusQuery,
  syncNowSignal,
  type CompanySyncInput,
  type CompanySyncStatus,
  type SyncNowRequest,
} from '../../workflows/messages';
import { companyWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute, SyncOutcomeAttribute } from '../../temporal/search-attributes';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { openStack, recordHistory, temporalCli, WorkflowFailedError, type Stack } from './helpers';
import { addTestCompany, FAST_RETRIES, startWorker, TODAY, until, type RunningWorker } from './sync-kit';

describe('the long-lived company workflow', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('company');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker.stop();
    await stack.close();
  });

  async function company(size = 120) {
    const users = generateLuccaUsers({ size, seed: 11, today: TODAY });
    return { ...(await addTestCompany(stack, users)), users };
  }

  function syncNow(
    companyId: string,
    request: SyncNowRequest,
    extra: Partial<CompanySyncInput> = {},
  ): Promise<WorkflowHandle<typeof companySyncWorkflow>> {
    return stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: FAST_RETRIES, ...extra }],
      signal: syncNowSignal,
      signalArgs: [request],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
  }

  const runsOf = (companyId: string) => stack.store.syncRuns.find({ companyId }).sort({ startedAt: 1 }).toArray();

  async function lastRunAfter(
    handle: WorkflowHandle,
    count: number,
  ): Promise<NonNullable<CompanySyncStatus['lastRun']>> {
    return until(`${count} finished runs`, async () => {
      const status = await handle.query(statusQuery);
      const runs = await runsOf(status.companyId);
      const done = runs.filter((r) => r.status !== 'running');
      return done.length >= count && status.current === null && status.lastRun ? status.lastRun : undefined;
    });
  }

  test('syncNow starts the company workflow, runs a sync and reports it through the status query', async () => {
    const { companyId } = await company();
    const handle = await syncNow(companyId, { requestedBy: 'ops-alice' });
    const lastRun = await lastRunAfter(handle, 1);
    assert.equal(lastRun.status, 'succeeded');
    assert.ok(lastRun.counts!.created > 50);
    assert.match(lastRun.summary, new RegExp(`^${companyId}: \\d+ created`));
    const [run] = await runsOf(companyId);
    assert.equal(run!.trigger, 'manual');
    assert.equal(run!.requestedBy, 'ops-alice');
    assert.equal(run!.workflowId, `sync-run:${companyId}:${run!._id}`);
    const description = await handle.describe();
    assert.equal(description.status.name, 'RUNNING', 'the company workflow stays up between runs');
  });

  test('requests arriving during a run are folded into one follow-up run', async () => {
    const { companyId } = await company();
    // Slow pages keep the first run busy while more requests arrive.
    stack.lucca.addFault({ tenant: companyId, kind: 'slow', delayMs: 1500, times: 1 });
    const handle = await syncNow(companyId, { requestedBy: 'first' });
    await until('the first run to start', async () => ((await handle.query(statusQuery)).current ? true : undefined));
    for (const who of ['second', 'third', 'fourth']) await handle.signal(syncNowSignal, { requestedBy: who });
    // Folded as they arrive: one entry, whatever the number of requests.
    const pending = (await handle.query(statusQuery)).pending;
    assert.equal(pending.length, 1);
    assert.equal(pending[0]!.requests, 3);
    assert.equal(pending[0]!.requestedBy, 'second, third, fourth');
    await lastRunAfter(handle, 2);
    // Nothing left to run: no third run can start.
    const after = await handle.query(statusQuery);
    assert.deepEqual([after.current, after.pending], [null, []]);
    const runs = await runsOf(companyId);
    assert.equal(runs.length, 2, 'one run, then one coalesced follow-up');
    assert.equal(runs[1]!.requestedBy, 'second, third, fourth');
  });

  test('a dry-run request is not folded into an apply run', async () => {
    const { companyId } = await company();
    stack.lucca.addFault({ tenant: companyId, kind: 'slow', delayMs: 1500, times: 1 });
    const handle = await syncNow(companyId, {});
    await until('the first run to start', async () => ((await handle.query(statusQuery)).current ? true : undefined));
    await handle.signal(syncNowSignal, { dryRun: true });
    await handle.signal(syncNowSignal, {});
    await lastRunAfter(handle, 3);
    const runs = await runsOf(companyId);
    assert.deepEqual(
      runs.map((r) => r.mode),
      ['apply', 'dry-run', 'apply'],
    );
  });

  test('a failed run leaves the company workflow healthy for the next request', async () => {
    const { companyId, apiKey } = await company();
    stack.lucca.setApiKeys(companyId, [{ key: apiKey, revoked: true }]);
    const handle = await syncNow(companyId, {});
    const failed = await lastRunAfter(handle, 1);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'lucca-auth');
    // The run's own workflow failed, with the code and the next step, and is found by its outcome.
    const runWorkflow = stack.client.workflow.getHandle((await runsOf(companyId))[0]!.workflowId);
    const described = await runWorkflow.describe();
    assert.equal(described.status.name, 'FAILED');
    assert.deepEqual(described.typedSearchAttributes.get(SyncOutcomeAttribute), 'failed');
    const failure = await runWorkflow.result().then(
      () => assert.fail('the failed run workflow completed'),
      (err: unknown) => (err as WorkflowFailedError).cause as ApplicationFailure,
    );
    assert.equal(failure.type, 'LuccaAuthError');
    assert.match(failure.message, new RegExp(`^${companyId}: failed \\(lucca-auth\\): .*onboard`, 's'));
    const listed = await temporalCli(
      'workflow',
      'list',
      '--query',
      `CompanyId="${companyId}" AND SyncOutcome="failed"`,
      '--output',
      'json',
    );
    assert.deepEqual(
      (JSON.parse(listed) as { execution: { workflowId: string }; status: string }[]).map((w) => [
        w.execution.workflowId,
        w.status,
      ]),
      [[runWorkflow.workflowId, 'WORKFLOW_EXECUTION_STATUS_FAILED']],
    );
    // The company workflow's details name the last outcome.
    const { currentDetails: details } = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(details ?? '', new RegExp(`Last run ${failed.runId}: failed`));
    await recordHistory(stack, 'failed-workflow-lucca-auth', runWorkflow.workflowId);

    stack.lucca.setApiKeys(companyId, [{ key: apiKey }]);
    await handle.signal(syncNowSignal, {});
    const ok = await lastRunAfter(handle, 2);
    assert.equal(ok.status, 'succeeded');
  });

  test('the company workflow continues as new and carries its last run across', async () => {
    const { companyId } = await company(60);
    const handle = await syncNow(companyId, {}, { maxRunsPerExecution: 2 });
    const firstRunId = (await handle.describe()).runId;
    await lastRunAfter(handle, 1);
    await handle.signal(syncNowSignal, {});
    await until('a new execution', async () => {
      const d = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).describe();
      return d.runId !== firstRunId && d.status.name === 'RUNNING' ? true : undefined;
    });
    const status = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).query(statusQuery);
    assert.equal(status.runsSinceContinueAsNew, 0);
    assert.equal(status.lastRun?.status, 'succeeded', 'the last run survives continue-as-new');
    assert.equal((await runsOf(companyId)).length, 2);

    await recordHistory(stack, 'requests-continued-as-new', companyWorkflowId(companyId), firstRunId);
    await recordHistory(stack, 'outcome-succeeded', (await runsOf(companyId))[0]!.workflowId);
  });

  test('every run of a company is listed in Temporal by its CompanyId search attribute', async () => {
    const { companyId } = await company(60);
    const handle = await syncNow(companyId, {});
    await lastRunAfter(handle, 1);
    const ids = await until('visibility to catch up', async () => {
      const found: string[] = [];
      for await (const wf of stack.client.workflow.list({ query: `CompanyId="${companyId}"` })) {
        found.push(wf.workflowId);
      }
      return found.length >= 2 ? found : undefined;
    });
    assert.ok(ids.includes(companyWorkflowId(companyId)));
    assert.ok(ids.some((id) => id.startsWith(`sync-run:${companyId}:`)));
  });
});
