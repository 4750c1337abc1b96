import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../config/env';
import { failureType } from '../../domain/failures';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { OperationError, requestSync, waitForSyncRun, type OperationsDeps, type SyncTicket } from '../../operations';
import { queryCompanyStatus } from '../../operations/sync';
import { MAX_PENDING_KINDS } from '../../workflows/company-sync';
import { scheduledSyncWorkflow } from '../../workflows';
import { requestSyncWithStart } from '../../temporal/client';
import { statusQuery, syncNowSignal, type SyncNowRequest } from '../../workflows/messages';
import { companyWorkflowId } from '../../temporal/ids';
import { SyncOutcomeAttribute } from '../../temporal/search-attributes';
import { openStack, recordHistory, type Stack, stackEnv } from './helpers';
import { addTestCompany, profilesOf, staff, startWorker, until, type RunningWorker } from './sync-kit';

/**
 * Operators' requests as the CLI and the console send them (update-with-start on the company
 * workflow): each learns exactly which run it became, a flood cannot grow the queue, an override
 * applies what was reviewed and no more, and every run says how it ended in Temporal.
 */
describe('sync requests through the company workflow', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('requests');
    // With the Temporal client: schedule firings run here too.
    worker = await startWorker(stack, stack.taskQueue, {
      temporal: { client: stack.client, taskQueue: stack.taskQueue },
    });
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    for (const companyId of companies) {
      await stack.client.workflow
        .getHandle(companyWorkflowId(companyId))
        .terminate('test over')
        .catch(() => undefined);
    }
    await worker.stop();
    await stack.close();
  });

  async function company(size: number) {
    const added = await addTestCompany(stack, staff(size));
    companies.push(added.companyId);
    return added;
  }

  /** The run workflow's `SyncOutcome`, once it has closed (its run document is finished just before). */
  async function outcomeOf(run: SyncRunDocument) {
    const handle = stack.client.workflow.getHandle(run.workflowId);
    await handle.result().catch(() => undefined);
    return (await handle.describe()).typedSearchAttributes.get(SyncOutcomeAttribute);
  }

  /** Requests a first run and keeps it on its first page: slowly, or (`stuck`) retrying 503s until the test ends it. */
  async function firstRunBusy(companyId: string, how: { delayMs: number } | 'stuck'): Promise<SyncTicket> {
    stack.lucca.addFault(
      how === 'stuck'
        ? { tenant: companyId, kind: 'status', status: 503, times: Infinity }
        : { tenant: companyId, kind: 'slow', delayMs: how.delayMs, times: 1 },
    );
    const ticket = await requestSync(deps, { companyId, requestedBy: 'first' });
    await until('the first run to start', async () => (await queryCompanyStatus(stack.client, companyId))?.current);
    return ticket;
  }

  /** A request of a kind of its own: the override of blocked run `i`. */
  const override = (i: number): SyncNowRequest => ({
    requestedBy: `override-${i}`,
    override: { blockedRunId: `blocked-${i}`, ceilings: [{ guard: 'deactivate', count: 3 }] },
  });

  test('each request learns exactly which run it became, under concurrent requests of different kinds', async () => {
    const { companyId } = await company(30);
    const first = await firstRunBusy(companyId, { delayMs: 2_000 });
    const asked = [
      { requestedBy: 'b', dryRun: false },
      { requestedBy: 'c', dryRun: true },
      { requestedBy: 'd', dryRun: false },
      { requestedBy: 'e', dryRun: true },
      { requestedBy: 'f', dryRun: false },
    ];
    const tickets = await Promise.all(asked.map((a) => requestSync(deps, { companyId, ...a })));
    const runs = await Promise.all([first, ...tickets].map((t) => waitForSyncRun(deps, t, { pollMs: 100 })));

    const [firstRun, ...later] = runs;
    assert.equal(firstRun!.requestId, first.requestId);
    assert.equal(firstRun!.requestedBy, 'first');
    later.forEach((run, i) => {
      assert.equal(run.requestId, tickets[i]!.requestId, `${asked[i]!.requestedBy} got the run of its request`);
      assert.equal(run.mode, asked[i]!.dryRun ? 'dry-run' : 'apply');
      assert.ok(tickets[i]!.ahead! >= 1, 'queued behind the first run');
      assert.ok(run.startedAt > firstRun!.startedAt);
    });
    // The same kind folded into one run; the kinds stayed apart: three runs in all.
    const applyRuns = new Set(later.filter((r) => r.mode === 'apply').map((r) => r._id));
    const dryRuns = new Set(later.filter((r) => r.mode === 'dry-run').map((r) => r._id));
    assert.equal(applyRuns.size, 1);
    assert.equal(dryRuns.size, 1);
    assert.equal((await stack.repos.syncRuns.list(companyId, 10)).length, 3);
    assert.deepEqual((await stack.repos.syncRuns.get([...applyRuns][0]!))!.requestedBy!.split(', ').sort(), [
      'b',
      'd',
      'f',
    ]);
    assert.equal(await outcomeOf(runs.find((r) => r.mode === 'dry-run')!), 'dry-run');
    assert.equal(await outcomeOf(firstRun!), 'succeeded');
    await recordHistory(stack, 'requests-update', companyWorkflowId(companyId));
  });

  test(`a flood of requests folds into at most ${MAX_PENDING_KINDS} waiting kinds; more kinds are refused, not queued`, async () => {
    const { companyId } = await company(10);
    // The first run stays on its first page for the whole test (the workflow is terminated after).
    await firstRunBusy(companyId, 'stuck');
    const handle = stack.client.workflow.getHandle(companyWorkflowId(companyId));
    // Signals (what schedules send) cannot be refused: past the bound they are dropped. Ten times
    // the bound in kinds (each override of another run is a kind of its own), and plain requests.
    // One request past each of its own bounds first: its requester's name and the run it overrides;
    // the reviewed counts earlier versions sent are not kept (the run reads what was reviewed from MongoDB).
    await handle.signal(syncNowSignal, {
      requestedBy: 'x'.repeat(2_000),
      override: {
        blockedRunId: 'b'.repeat(2_000),
        ceilings: Array.from({ length: 200 }, (_, i) => ({ guard: 'deactivate' as const, count: i })),
      },
    });
    const [huge] = (await queryCompanyStatus(stack.client, companyId))!.pending;
    assert.equal(huge?.requestedBy?.length, 200);
    assert.equal(huge?.override?.blockedRunId.length, 200);
    assert.equal(huge?.override?.ceilings, undefined);
    const signals: SyncNowRequest[] = [
      ...Array.from({ length: 50 }, (_, i) => ({ requestedBy: `plain-${i}`, dryRun: i % 2 === 0 })),
      ...Array.from({ length: 10 * MAX_PENDING_KINDS }, (_, i) => override(i)),
    ];
    await Promise.all(signals.map((r) => handle.signal(syncNowSignal, r)));
    const full = (await queryCompanyStatus(stack.client, companyId))!;
    assert.equal(full.pending.length, MAX_PENDING_KINDS);
    assert.ok(full.pending.reduce((n, p) => n + p.requests, 0) <= signals.length);
    assert.ok(full.pending.every((p) => (p.requestedBy ?? '').length <= 200));

    // Updates (what operators send) are refused with a reason, and nothing is queued.
    const refused = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        requestSyncWithStart(stack.client, stack.taskQueue, companyId, override(1000 + i), {
          answerWithinMs: 30_000,
        }),
      ),
    );
    for (const r of refused) {
      assert.equal(r.status, 'rejected');
      const cause = (r.reason as { cause?: ApplicationFailure }).cause;
      assert.match(String(cause?.message), /different kinds of sync request/);
      assert.equal(cause?.type, failureType('queue-full'), 'a full queue is told by its type');
    }
    const newKind = requestSync(deps, { companyId, dryRun: true, requestedBy: 'late' });
    if (full.pending.some((p) => !p.override && p.dryRun)) {
      // A kind already waiting still takes more requests: they fold into it.
      const folded = await newKind;
      assert.equal(folded.requestId, full.pending.find((p) => !p.override && p.dryRun)!.requestId);
    } else {
      await assert.rejects(newKind, (err: OperationError) => err.code === 'queue-full');
    }
    const after = (await queryCompanyStatus(stack.client, companyId))!;
    assert.deepEqual(
      after.pending.map((p) => p.requestId),
      full.pending.map((p) => p.requestId),
    );
  });

  test('apply anyway applies the changes of the people reviewed and no others; without a blocked run it is refused', async () => {
    const { companyId, tenant } = await company(40);
    const sync = async (input: Partial<Parameters<typeof requestSync>[1]> = {}) =>
      waitForSyncRun(deps, await requestSync(deps, { companyId, requestedBy: 'ops', ...input }), { pollMs: 100 });

    assert.equal((await sync()).status, 'succeeded');
    await assert.rejects(sync({ applyAnyway: {} }), (err: OperationError) => {
      assert.equal(err.code, 'nothing-to-override');
      assert.match(err.message, /not blocked: there is nothing to apply anyway/);
      return true;
    });

    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 30));
    const blocked = await sync();
    assert.equal(blocked.status, 'blocked');
    assert.equal(blocked.guard?.deactivations, 30);
    assert.equal(await outcomeOf(blocked), 'blocked');
    await recordHistory(stack, 'outcome-blocked', blocked.workflowId);
    await assert.rejects(
      sync({ applyAnyway: { blockedRunId: 'not-the-latest' } }),
      (err: OperationError) => err.code === 'nothing-to-override' && err.message.includes(blocked._id),
    );

    // More people gone since the review: the override of users 1–30 does not cover 31 and 32.
    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 32));
    const again = await sync({ applyAnyway: { blockedRunId: blocked._id } });
    assert.equal(again.status, 'blocked');
    assert.equal(again.overrideOf, blocked._id);
    assert.equal(again.error?.code, 'mass-deactivation');
    assert.match(again.error?.message ?? '', /deactivate 32 profiles \(2 not reviewed\)/);
    assert.match(again.error?.message ?? '', /2 changes of this plan were not reviewed/);
    assert.equal((await profilesOf(stack, companyId)).filter((p) => p.status === 'former').length, 0);

    // The operator reviews the new plan and confirms it: applied, exactly those 32.
    const applied = await sync({ applyAnyway: {} });
    assert.equal(applied.status, 'succeeded');
    assert.equal(applied.overrideOf, again._id);
    assert.equal(applied.counts?.deactivated, 32);
    assert.equal((await profilesOf(stack, companyId)).filter((p) => p.status === 'former').length, 32);
    assert.equal(await outcomeOf(applied), 'succeeded');
  });

  test('a schedule firing sends the requestSync update under its own id: a full queue fails the firing, and the same firing twice is one run', async () => {
    const fire = (companyId: string, workflowId: string) =>
      stack.client.workflow.execute(scheduledSyncWorkflow, {
        taskQueue: stack.taskQueue,
        workflowId,
        args: [{ companyId }],
      });

    const { companyId: full } = await company(10);
    // The first run stays on its first page (the workflow is terminated after), and every kind the queue holds waits.
    await firstRunBusy(full, 'stuck');
    const handle = stack.client.workflow.getHandle(companyWorkflowId(full));
    await Promise.all(Array.from({ length: MAX_PENDING_KINDS }, (_, i) => handle.signal(syncNowSignal, override(i))));
    assert.equal((await handle.query(statusQuery)).pending.length, MAX_PENDING_KINDS);
    await assert.rejects(fire(full, `company-sync-scheduled:${full}-full`), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure, String(err));
      const cause = err.cause.cause as ApplicationFailure;
      assert.equal(cause.type, failureType('queue-full'));
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, /different kinds of sync request are already waiting/);
      return true;
    });

    const { companyId } = await company(10);
    const firingId = `company-sync-scheduled:${companyId}-2026-12-02T06:00:00Z`;
    await fire(companyId, firingId);
    const run = await until('the scheduled run to finish', async () => {
      const [r] = await stack.repos.syncRuns.list(companyId, 10);
      return r && r.status !== 'running' ? r : undefined;
    });
    assert.equal(run.trigger, 'schedule');
    // The same firing again (as its retried activity would send it): answered, and nothing queued.
    await fire(companyId, firingId);
    const status = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).query(statusQuery);
    assert.equal(status.current, null);
    assert.deepEqual(status.pending, []);
    assert.deepEqual(
      status.requests?.map((r) => r.key),
      [firingId],
    );
    assert.equal((await stack.repos.syncRuns.list(companyId, 10)).length, 1);
  });
});
