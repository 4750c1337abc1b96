import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import protos from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { ReadInput, ReadResult } from '../../activities/fetch-lucca-users';
import type { FinishInput } from '../../activities/finish-sync-run';
import type { StartSyncRunInput } from '../../activities/start-sync-run';
import type { SweepResult } from '../../activities/sweep';
import { WORKFLOWS_PATH } from '../../workers/worker';
import { companySyncWorkflow, scheduledSyncWorkflow, syncRunWorkflow, syncSweepWorkflow } from '../../workflows';
import {
  statusQuery,
  syncNowSignal,
  type CompanySyncStatus,
  type SyncNowRequest,
  type SyncTuning,
} from '../../workflows/messages';
import { companyWorkflowId, runAlertWorkflowId, syncRunWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute, SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { ensureTool, TEMPORAL_TEST_SERVER } from '../../dev-tools/stack/tools';

/**
 * The workflows' own timing on Temporal's time-skipping test server (the Java SDK's, fetched into
 * `.tools/` — see `dev-tools/temporal-test-server`): retry backoffs, a schedule-to-close timeout and
 * continue-as-new, which on the dev server would take minutes to hours of wall time. Awaiting a
 * workflow's result lets the server jump to its next timer, so each test asserts both that the
 * workflow waited as long as it should in the server's time and that it took seconds of wall time.
 *
 * The server skips time only while nothing is outstanding: no activity running, no workflow task or
 * query unanswered. So a hung activity's heartbeat timeout cannot be skipped (it would take its real
 * five minutes), and each test leaves its workflows closed or idle before its worker stops.
 *
 * The activities here are test doubles registered on the test worker: these tests are about the
 * workflows' timing and bookkeeping, and the real activities are tested on the real stack
 * (`test/integration`: Lucca reads, plans, sweeps and schedule firings, which check the company in
 * MongoDB first, on the Temporal dev server and FerretDB).
 */

const MINUTE = 60_000;
/** Far above what the skipped waits take here, far below the waits themselves. */
const WALL_CLOCK_BUDGET_MS = 60_000;
/** For waits of 30 s: the attempts themselves take well under a second each. */
const SHORT_WALL_CLOCK_BUDGET_MS = 20_000;
/**
 * A workflow task that fails (a bug in a workflow, a search attribute the server does not know) is
 * retried for ever, and the server's clock stops with it: the test fails on this instead of hanging.
 */
const TEST_TIMEOUT_MS = 90_000;

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundle;
const suffix = randomBytes(4).toString('hex');
let sequence = 0;
const uniqueName = (what: string) => `timeskip-${what}-${suffix}-${++sequence}`;

before(async () => {
  // Failing activities on purpose makes the SDK log each failed attempt; TEST_LOG_LEVEL=warn shows them.
  const level = ({ debug: 'DEBUG', info: 'INFO', warn: 'WARN' } as const)[process.env.TEST_LOG_LEVEL ?? ''] ?? 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: { core: level, other: level } } },
  });
  const server = await ensureTool(TEMPORAL_TEST_SERVER);
  // The SDK gives the server 5 s to answer: it starts alone, before the CPU-heavy bundling.
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: server } },
  });
  workflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [
        name,
        protos.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${type}`],
      ]),
    ),
  });
});

after(async () => {
  await env?.teardown();
});

/**
 * Runs `fn` with a worker of its own task queue polling, and stops the worker after it, or when
 * the test times out (`signal`), so that a stuck test fails instead of keeping the process up.
 */
async function withWorker<T>(
  signal: AbortSignal,
  activities: (taskQueue: string) => object,
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const taskQueue = uniqueName('queue');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: activities(taskQueue),
  });
  const aborted = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('the test timed out')), { once: true }),
  );
  return worker.runUntil(Promise.race([fn(taskQueue), aborted]));
}

/** Polls a condition (a query, what a double saw) until it holds; real time, a few seconds at most. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface ReadAttempt {
  input: ReadInput;
  attempt: number;
  /** When this attempt ran, in the server's (skipped) time. */
  startedAt: number;
}

const UNCHANGED_COMPANY: ReadResult = {
  pagesRead: 1,
  usersRead: 3,
  removalsSafe: true,
  plan: {
    counts: {
      seen: 3,
      created: 0,
      linked: 0,
      updated: 0,
      unchanged: 3,
      deactivated: 0,
      reactivated: 0,
      skipped: 0,
      conflicts: 0,
    },
    deactivations: 0,
    activeProfiles: 3,
    limit: 5,
    blocked: false,
    writes: 0,
  },
};

/**
 * Doubles of a sync run's activities: the read answers a company whose three profiles are already
 * in step (nothing to apply), unless `read` says otherwise; every call is recorded.
 */
function syncActivityDoubles(read?: (attempt: ReadAttempt) => Promise<ReadResult | undefined>) {
  const seen = { starts: [] as StartSyncRunInput[], reads: [] as ReadAttempt[], finishes: [] as FinishInput[] };
  const unexpected = (name: string) => () => {
    throw ApplicationFailure.nonRetryable(`${name} was not expected: the read plans and the plan has no writes`);
  };
  const doubles: Pick<
    Activities,
    'startSyncRun' | 'fetchLuccaUsers' | 'planSync' | 'applySyncPlan' | 'finishSyncRun' | 'raiseRunAlert'
  > = {
    async startSyncRun(input) {
      seen.starts.push(input);
    },
    async fetchLuccaUsers(input) {
      const { attempt } = Context.current().info;
      const call = { input, attempt, startedAt: await serverTime() };
      seen.reads.push(call);
      return (await read?.(call)) ?? UNCHANGED_COMPANY;
    },
    planSync: unexpected('planSync'),
    applySyncPlan: unexpected('applySyncPlan'),
    async finishSyncRun(input) {
      seen.finishes.push(input);
    },
    // The company workflow starts each run's alert workflow; nothing is news here. Left without
    // it, that workflow would retry an unregistered activity and hold the test server's clock.
    async raiseRunAlert() {
      return null;
    },
  };
  return { doubles, seen };
}

/** What Lucca's 503 becomes: a retryable failure of the read. */
const luccaUnavailable = () =>
  ApplicationFailure.retryable('Lucca answered 503 Service Unavailable', 'LuccaUnavailable');

/**
 * The test server's clock, which jumps when time is skipped. (It stamps a retry's
 * `currentAttemptScheduledTimestampMs` with when the retry was decided, not when it is due.)
 */
const serverTime = () => env.currentTimeMs();

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('workflow timing on the time-skipping test server', () => {
  test(
    'a sync run retries a failing Lucca read after its backoff: half an hour of workflow time in seconds',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const tuning: SyncTuning = { retryInitialIntervalMs: 10 * MINUTE, retryMaximumIntervalMs: 60 * MINUTE };
      const { doubles, seen } = syncActivityDoubles(async ({ attempt }) => {
        if (attempt < 3) throw luccaUnavailable();
        return undefined;
      });
      const companyId = uniqueName('retry');
      const started = Date.now();
      const result = await withWorker(
        t.signal,
        () => doubles,
        (taskQueue) =>
          env.client.workflow.execute(syncRunWorkflow, {
            taskQueue,
            workflowId: syncRunWorkflowId(companyId, 'run-1'),
            args: [
              {
                companyId,
                runId: 'run-1',
                trigger: 'manual',
                requestedBy: null,
                dryRun: false,
                tuning,
              },
            ],
          }),
      );
      const wallMs = Date.now() - started;

      assert.equal(result.status, 'succeeded');
      assert.deepEqual(result.counts, UNCHANGED_COMPANY.plan!.counts);
      assert.deepEqual(
        seen.reads.map((r) => r.attempt),
        [1, 2, 3],
      );
      const [first, second] = gaps(seen.reads.map((r) => r.startedAt));
      assert.ok(first! >= 10 * MINUTE, `the first retry waited the 10-minute backoff (waited ${first} ms)`);
      assert.ok(second! >= 20 * MINUTE, `the second retry waited twice as long (waited ${second} ms)`);
      assert.ok(wallMs < WALL_CLOCK_BUDGET_MS, `30 minutes of backoff were skipped (took ${wallMs} ms of wall time)`);
      assert.deepEqual(
        seen.finishes.map((f) => f.status),
        ['succeeded'],
      );
    },
  );

  test(
    'the company workflow continues as new after its run limit and carries its queued request and its last run',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const companyId = uniqueName('company');
      const firstRunGate = deferred();
      const { doubles, seen } = syncActivityDoubles(async ({ input, attempt }) => {
        // The first run waits until the requests that must queue behind it have arrived.
        if (seen.reads.length === 1) await firstRunGate.promise;
        // The run that crosses continue-as-new (the override) fails its first read: 10 minutes of backoff.
        const start = seen.starts.find((s) => s.runId === input.runId);
        if (start?.overrideOf && attempt === 1) throw luccaUnavailable();
        return undefined;
      });

      await withWorker(
        t.signal,
        () => doubles,
        async (taskQueue) => {
          const first = await env.client.workflow.signalWithStart(companySyncWorkflow, {
            taskQueue,
            workflowId: companyWorkflowId(companyId),
            args: [
              {
                companyId,
                maxRunsPerExecution: 2,
                // The first interval alone, above the 60 s default maximum: the maximum follows it.
                tuning: { retryInitialIntervalMs: 10 * MINUTE },
              },
            ],
            signal: syncNowSignal,
            signalArgs: [{ requestedBy: 'alice' }],
            typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
          });
          await until('the first run to read', () => seen.reads[0]);

          const dryRun: SyncNowRequest = { requestedBy: 'bob', dryRun: true };
          const override: SyncNowRequest = { requestedBy: 'carol', override: { blockedRunId: 'run-blocked' } };
          await first.signal(syncNowSignal, dryRun);
          await first.signal(syncNowSignal, override);
          const queued = await until('both requests queued', async () => {
            const s = await first.query(statusQuery);
            return s.pending.length === 2 ? s.pending : undefined;
          });
          const carried = queued.find((p) => p.override)!;
          firstRunGate.resolve();

          // Run 1 (alice), run 2 (bob's dry run): the limit. Carol's request moves to a new execution,
          // whose run fails its first read and waits out its backoff. The new execution is queried once
          // its run is under way: this server stops its clock while a query is unanswered, and a query
          // sent as the execution continues as new may never be.
          const carriedRead = await until("the carried request's run to read", () => seen.reads[2]);
          assert.equal(
            seen.starts.find((s) => s.runId === carriedRead.input.runId)?.overrideOf,
            'run-blocked',
            "carol's override reached the run",
          );
          const firstExecution = env.client.workflow.getHandle(first.workflowId, first.signaledRunId);
          assert.equal((await firstExecution.describe()).status.name, 'CONTINUED_AS_NEW');
          const { runId: newRunId } = await env.client.workflow.getHandle(first.workflowId).describe();
          assert.notEqual(newRunId, first.signaledRunId);
          const newExecution = env.client.workflow.getHandle<typeof companySyncWorkflow>(first.workflowId, newRunId);
          const crossed = await newExecution.query(statusQuery);
          assert.equal(crossed.runsSinceContinueAsNew, 0);
          assert.equal(crossed.current!.requestId, carried.requestId, 'the queued request kept its id across');
          assert.deepEqual(crossed.pending, [], 'nothing else was queued');
          assert.equal(crossed.lastRun?.mode, 'dry-run', "the last run is the first execution's last (bob's dry run)");
          assert.equal(crossed.lastRun?.status, 'succeeded');

          // Awaiting the run lets the server skip its 10-minute backoff.
          const started = Date.now();
          const run: WorkflowHandle<typeof syncRunWorkflow> = env.client.workflow.getHandle(
            syncRunWorkflowId(companyId, crossed.current!.runId),
          );
          assert.equal((await run.result()).status, 'succeeded');
          const wallMs = Date.now() - started;
          // Also leaves the company workflow idle: a workflow task left behind when the worker stops
          // would stop this server's clock for the tests after this one.
          const after: CompanySyncStatus = await until('the carried run to be recorded', async () => {
            const s = await newExecution.query(statusQuery);
            return s.lastRun?.runId === crossed.current!.runId ? s : undefined;
          });
          const waited = Date.parse(after.lastRun!.finishedAt) - Date.parse(crossed.current!.startedAt);
          assert.ok(waited >= 10 * MINUTE, `the carried run waited out its backoff (${waited} ms of workflow time)`);
          assert.ok(wallMs < WALL_CLOCK_BUDGET_MS, `the backoff was skipped (took ${wallMs} ms of wall time)`);
          assert.equal(after.runsSinceContinueAsNew, 1);
          assert.deepEqual(
            seen.starts.map((s) => [s.requestedBy, s.dryRun, s.overrideOf ?? null]),
            [
              ['alice', false, null],
              ['bob', true, null],
              ['carol', false, 'run-blocked'],
            ],
          );
          // Each run that wrote (not bob's dry run) starts its alert workflow, abandoned: it must end
          // while this worker runs, or its workflow task would stop the server's clock for the tests after.
          for (const start of seen.starts.filter((s) => !s.dryRun)) {
            const alert = env.client.workflow.getHandle(runAlertWorkflowId(companyId, start.runId));
            await until(`the alert workflow of ${start.runId} to end`, async () =>
              (await alert.describe().catch(() => undefined))?.status.name === 'COMPLETED' ? true : undefined,
            );
          }
        },
      );
    },
  );

  test(
    'a schedule firing that cannot reach the company workflow gives up after 30 minutes instead of piling up',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const attempts: number[] = [];
      const requestCompanySync = async () => {
        attempts.push(await serverTime());
        throw ApplicationFailure.retryable('Temporal is unavailable', 'ServiceUnavailable');
      };
      const started = Date.now();
      const failure = await withWorker(
        t.signal,
        () => ({ requestCompanySync }),
        (taskQueue) =>
          env.client.workflow
            .execute(scheduledSyncWorkflow, {
              taskQueue,
              workflowId: uniqueName('firing'),
              args: [{ companyId: 'gone' }],
            })
            .then(
              () => assert.fail('the firing cannot succeed'),
              (err: unknown) => err,
            ),
      );
      const wallMs = Date.now() - started;

      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ActivityFailure);
      // The server stops retrying when the next attempt would start past the 30 minutes, and
      // reports the last attempt's failure.
      assert.equal(failure.cause.retryState, RetryState.TIMEOUT);
      assert.equal(failure.cause.cause?.message, 'Temporal is unavailable');
      const retriedFor = attempts.at(-1)! - attempts[0]!;
      assert.ok(retriedFor > 25 * MINUTE && retriedFor <= 30 * MINUTE, `retried for ${retriedFor} ms`);
      assert.ok(
        gaps(attempts).every((gap) => gap <= MINUTE + 1000),
        'never more than a minute between attempts',
      );
      assert.ok(wallMs < WALL_CLOCK_BUDGET_MS, `30 minutes were skipped (took ${wallMs} ms of wall time)`);
    },
  );

  test(
    'a sweep that keeps failing is retried 10 s then 20 s later and given up after its third attempt',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const attempts: number[] = [];
      const sweepSyncData = async (): Promise<SweepResult> => {
        attempts.push(await serverTime());
        throw ApplicationFailure.retryable('the store is unavailable', 'StorageUnavailable');
      };
      const started = Date.now();
      const failure = await withWorker(
        t.signal,
        () => ({ sweepSyncData }),
        (taskQueue) =>
          env.client.workflow.execute(syncSweepWorkflow, { taskQueue, workflowId: uniqueName('sweep') }).then(
            () => assert.fail('the sweep cannot succeed'),
            (err: unknown) => err,
          ),
      );
      const wallMs = Date.now() - started;

      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ActivityFailure);
      assert.equal(failure.cause.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
      const [first, second] = gaps(attempts);
      assert.equal(attempts.length, 3);
      assert.ok(first! >= 10_000 && second! >= 20_000, `backoffs of ${first} and ${second} ms`);
      assert.ok(wallMs < SHORT_WALL_CLOCK_BUDGET_MS, `30 s of backoff were skipped (took ${wallMs} ms of wall time)`);
    },
  );
});
