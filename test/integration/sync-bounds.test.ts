import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import protos from '@temporalio/proto';
import { readBoundMs } from '../../domain/run-bounds';
import { companySyncWorkflow } from '../../workflows';
import { statusQuery, syncNowSignal, type SyncRunInput } from '../../workflows/messages';
import { companyWorkflowId, syncRunWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute, SyncOutcomeAttribute } from '../../temporal/search-attributes';
import { FAKE_LUCCA_HOSTS, openStack, recordHistory, type Stack } from './helpers';
import {
  addTestCompany,
  FAST_RETRIES,
  profilesOf,
  runSync,
  staff,
  startWorker,
  until,
  type RunningWorker,
} from './sync-kit';

const SCHEDULE_TO_CLOSE = protos.temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE;

/** The read activity's scheduling and how it ended, from the run's history. */
async function readActivityOf(stack: Stack, companyId: string, runId: string) {
  const history = await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, runId)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchLuccaUsers',
  );
  const timedOut = events.find(
    (e) => String(e.activityTaskTimedOutEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
  );
  const timeout = scheduled?.activityTaskScheduledEventAttributes?.scheduleToCloseTimeout;
  return {
    scheduleToCloseMs: timeout ? Number(timeout.seconds ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6) : null,
    timedOut: timedOut?.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ?? null,
  };
}

describe('a run and each of its activities are bounded by the company’s size', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('bounds');
    // Lucca's own timeout is far longer than the bounds tested: only a bound can end the wait.
    worker = await startWorker(stack, stack.taskQueue, {
      lucca: { timeoutMs: 120_000, rateLimit: null, pageSize: 10, allowedHosts: FAKE_LUCCA_HOSTS },
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

  test('a read past its bound fails the run with run-too-long, writes nothing and leaves no working data', async () => {
    const READ_BOUND_MS = 1_000;
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    // The second page would answer after ten times the read's bound.
    stack.lucca.addFault({ tenant, kind: 'slow', delayMs: 10 * READ_BOUND_MS, whenOffset: 9, times: 1 });

    const run = await sync(companyId, { tuning: { ...FAST_RETRIES, readBoundMs: READ_BOUND_MS } });

    assert.equal(run.status, 'failed');
    assert.equal(run.error?.code, 'run-too-long');
    assert.match(
      run.error?.message ?? '',
      /^Reading Lucca took longer than its bound of 1 s, every attempt included .*; no profile was written\./,
    );
    const read = await readActivityOf(stack, companyId, run.runId);
    assert.deepEqual(read, { scheduleToCloseMs: READ_BOUND_MS, timedOut: SCHEDULE_TO_CLOSE });
    const stored = await stack.repos.syncRuns.get(run.runId);
    assert.deepEqual([stored?.status, stored?.error?.code], ['failed', 'run-too-long']);
    assert.equal((await profilesOf(stack, companyId)).length, 0);
    assert.equal(await stack.repos.workingData.countPages(run.runId), 0, 'its staged first page was dropped');
    const described = await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, run.runId)).describe();
    assert.equal(described.typedSearchAttributes.get(SyncOutcomeAttribute), 'failed');
    await recordHistory(stack, 'failed-read-too-long', syncRunWorkflowId(companyId, run.runId));
  });

  test('a run past its own bound is stopped by its timer: its read is cancelled, the failure recorded and its working data dropped', async () => {
    const RUN_BOUND_MS = 1_500;
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    stack.lucca.addFault({ tenant, kind: 'slow', delayMs: 10 * RUN_BOUND_MS, whenOffset: 9, times: 1 });

    const run = await sync(companyId, { tuning: { ...FAST_RETRIES, runBoundMs: RUN_BOUND_MS } });

    assert.equal(run.status, 'failed');
    assert.equal(run.error?.code, 'run-too-long');
    assert.match(
      run.error?.message ?? '',
      /^The run took longer than its bound of 2 s .* and was stopped while reading Lucca; no profile was written; its working data was removed\./,
    );
    const read = await readActivityOf(stack, companyId, run.runId);
    assert.equal(read.timedOut, null, 'the read was cancelled, not timed out');
    const stored = await stack.repos.syncRuns.get(run.runId);
    assert.deepEqual([stored?.status, stored?.error?.code], ['failed', 'run-too-long']);
    assert.equal(
      await stack.repos.workingData.countPages(run.runId),
      0,
      'the run waited for its read to stop, then dropped it',
    );
    assert.equal((await profilesOf(stack, companyId)).length, 0);
    await recordHistory(stack, 'failed-run-too-long', syncRunWorkflowId(companyId, run.runId));
  });

  test("the company workflow bounds each run from its last run's size", async () => {
    const { companyId } = await addTestCompany(stack, staff(30));
    const handle = await stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: FAST_RETRIES }],
      signal: syncNowSignal,
      signalArgs: [{ requestedBy: 'first' }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
    try {
      const first = await until('the first run', async () => (await handle.query(statusQuery)).lastRun ?? undefined);
      await handle.signal(syncNowSignal, { requestedBy: 'second' });
      const second = await until('the second run', async () => {
        const last = (await handle.query(statusQuery)).lastRun;
        return last && last.runId !== first.runId ? last : undefined;
      });
      assert.equal(second.status, 'succeeded');

      const inputOf = async (runId: string) => {
        const history = await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, runId)).fetchHistory();
        const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
        return defaultPayloadConverter.fromPayload<SyncRunInput>(started!.input!.payloads![0]!);
      };
      assert.equal((await inputOf(first.runId)).expectedUsers, undefined, 'a first run knows no size');
      assert.equal((await inputOf(second.runId)).expectedUsers, 30);
      const [firstRead, secondRead] = [
        await readActivityOf(stack, companyId, first.runId),
        await readActivityOf(stack, companyId, second.runId),
      ];
      assert.equal(firstRead.scheduleToCloseMs, readBoundMs(undefined));
      assert.equal(secondRead.scheduleToCloseMs, readBoundMs(30));
      await recordHistory(stack, 'bounded-succeeded', syncRunWorkflowId(companyId, second.runId));
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  });
});
