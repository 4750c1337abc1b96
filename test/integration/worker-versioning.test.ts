import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { companySyncWorkflow, type syncRunWorkflow } from '../../workflows';
import { syncNowSignal } from '../../workflows/messages';
import { companyWorkflowId, syncRunWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute } from '../../temporal/search-attributes';
import { createSyncWorker } from '../../workers/worker';
import { activityDeps, NAMESPACE, openStack, temporalCli, uniqueSuffix, workflowBundle, type Stack } from './helpers';
import { addTestCompany, FAST_RETRIES, staff, until, type TestCompany } from './sync-kit';

/**
 * A deploy with worker versioning, on the real dev server: two builds of the worker poll one task
 * queue, the operator makes the new one current while a run is in flight, then rolls back while
 * another is. A run finishes on the build that started it; the company's workflow follows the
 * current build; new runs start on it.
 */
describe('worker versioning: a deploy and a rollback with runs in flight', () => {
  let stack: Stack;
  let company: TestCompany;
  const deploymentName = `lucca-sync-test-${uniqueSuffix()}`;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    stack = await openStack('versioning');
    company = await addTestCompany(stack, staff(3));
  });

  after(async () => {
    await stack.client.workflow
      .getHandle(companyWorkflowId(company.companyId))
      .terminate('test over')
      .catch(() => undefined);
    for (const stop of stops) await stop();
    await stack.close();
  });

  async function startBuild(buildId: string): Promise<void> {
    const worker = await createSyncWorker({
      connection: stack.nativeConnection,
      namespace: NAMESPACE,
      taskQueue: stack.taskQueue,
      deps: activityDeps(stack),
      workflowBundle: await workflowBundle(),
      deployment: { deploymentName, buildId },
    });
    const running = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
  }

  /** What the operator types once the new build's workers poll (the server refuses a version it has not seen poll). */
  function setCurrent(buildId: string): Promise<string> {
    return until(
      `build ${buildId} to be made current`,
      () =>
        temporalCli(
          'worker',
          'deployment',
          'set-current-version',
          '--deployment-name',
          deploymentName,
          '--build-id',
          buildId,
          '--yes',
        ).catch(() => undefined),
      30_000,
    );
  }

  /** The build ids of the workers that completed each of a workflow's tasks, in order. */
  async function buildsOf(workflowId: string): Promise<string[]> {
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .map((e) => e.workflowTaskCompletedEventAttributes)
      .filter((a) => a != null)
      .map((a) => a.deploymentVersion?.buildId ?? '(none)');
  }

  const runsSoFar = () => stack.store.syncRuns.countDocuments({ companyId: company.companyId });

  async function requestRun(): Promise<WorkflowHandle<typeof syncRunWorkflow>> {
    const before = await runsSoFar();
    await stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(company.companyId),
      args: [{ companyId: company.companyId, tuning: FAST_RETRIES }],
      signal: syncNowSignal,
      signalArgs: [{ requestedBy: 'test' }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: company.companyId }],
    });
    const run = await until('the run to start', async () => {
      const runs = await stack.store.syncRuns.find({ companyId: company.companyId }).sort({ startedAt: 1 }).toArray();
      return runs.length > before ? runs.at(-1) : undefined;
    });
    return stack.client.workflow.getHandle<typeof syncRunWorkflow>(syncRunWorkflowId(company.companyId, run._id));
  }

  /** Starts a run held at its first read of Lucca: in flight until `release`. */
  async function runInFlight(): Promise<{ run: WorkflowHandle<typeof syncRunWorkflow>; release(): void }> {
    const hold = stack.lucca.holdRequest({ tenant: company.tenant });
    const run = await requestRun();
    await until('the run to be reading Lucca', async () => (hold.holding ? true : undefined));
    return { run, release: () => hold.release() };
  }

  test('a run in flight finishes on its build across the switch and the rollback; new runs start on the current build', async () => {
    await startBuild('build-a');
    await setCurrent('build-a');
    const first = await runInFlight();

    // The deploy: build b polls, then is made current while the first run waits on Lucca.
    await startBuild('build-b');
    await setCurrent('build-b');
    first.release();
    assert.equal((await first.run.result()).status, 'succeeded');
    assert.deepEqual(new Set(await buildsOf(first.run.workflowId)), new Set(['build-a']));

    // New work goes to build b: the company's workflow moves to it, and its next run starts on it.
    const second = await runInFlight();
    assert.equal((await buildsOf(companyWorkflowId(company.companyId))).at(-1), 'build-b');

    // The rollback: build a current again while the second run is in flight.
    await setCurrent('build-a');
    second.release();
    assert.equal((await second.run.result()).status, 'succeeded');
    assert.deepEqual(new Set(await buildsOf(second.run.workflowId)), new Set(['build-b']));

    const third = await requestRun();
    assert.equal((await third.result()).status, 'succeeded');
    assert.deepEqual(new Set(await buildsOf(third.workflowId)), new Set(['build-a']));
    assert.equal((await buildsOf(companyWorkflowId(company.companyId))).at(-1), 'build-a');
    assert.equal(await stack.store.profiles.countDocuments({ companyId: company.companyId }), 3);
  });
});
