import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { connectMongo, repositories } from '../../db/mongo';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { StoreRelay } from '../../dev-tools/reliability/store-relay';
import { failureType } from '../../domain/failures';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { DEFAULT_SHUTDOWN_GRACE_MS, shutdownDrainMs } from '../../workers/worker';
import type { syncRunWorkflow } from '../../workflows';
import {
  FAKE_LUCCA_HOSTS,
  MONGODB_URI,
  openStack,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  type Stack,
  workflowBundleFile,
} from './helpers';
import {
  addTestCompany,
  FAST_RETRIES,
  profilesOf,
  profileViews,
  runSync,
  startSync,
  startWorker,
  TODAY,
  until,
  type RunningWorker,
} from './sync-kit';

const PAGE_SIZE = 20;
const lucca = { timeoutMs: 5_000, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS };
/** Retries at once, but a lost attempt would only be retried after a minute (production's heartbeat timeout). */
const TUNING = { ...FAST_RETRIES, heartbeatTimeoutMs: 60_000 };

/** The activity a run waits on, as Temporal describes it: attempt, last failure and heartbeated checkpoint. */
async function pendingActivity(handle: WorkflowHandle<typeof syncRunWorkflow>) {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  assert.equal(pending.length, 1, 'one activity pending');
  const activity = pending[0]!;
  const details = activity.heartbeatDetails?.payloads?.[0];
  return {
    type: activity.activityType?.name,
    attempt: activity.attempt ?? 0,
    failureType: activity.lastFailure?.applicationFailureInfo?.type,
    failureMessage: activity.lastFailure?.message ?? '',
    checkpoint: details ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(details) : null,
  };
}

const runProgress = async (stack: Stack, runId: string) => (await stack.repos.syncRuns.get(runId))?.progress;
/**
 * Two pages before the end of the read of `users` (after the first, each page starts one user
 * early), or past it: from there on the run is slowed, so that its apply cannot end unseen.
 */
const nearlyRead = async (stack: Stack, runId: string, users: number) => {
  const pages = 1 + Math.ceil((users - PAGE_SIZE) / (PAGE_SIZE - 1));
  const progress = await runProgress(stack, runId);
  return progress && (progress.phase !== 'reading' || progress.pagesRead >= pages - 2) ? true : undefined;
};
const profileCount = (stack: Stack, companyId: string) => stack.store.profiles.countDocuments({ companyId });

describe('a worker stopped mid-run (a deploy), and a run cancelled mid-apply', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let bundleFile: string;
  /** MongoDB through a relay whose latency a test turns up: a plan applied in a few dozen batches then takes seconds. */
  let link: StoreRelay;
  /** Worker processes, each on its own task queue: one for a deploy mid-apply, one with a short grace time. */
  let deployed: { child: ChildWorker; taskQueue: string };
  let shortGrace: { child: ChildWorker; taskQueue: string };
  const SHORT_GRACE_MS = 4_000;

  before(async () => {
    stack = await openStack('shutdown');
    worker = await startWorker(stack, stack.taskQueue, { lucca });
    bundleFile = await workflowBundleFile();
    link = await StoreRelay.open(MONGODB_URI);
    // Started together: a worker process takes seconds to start.
    const queues = [`${stack.taskQueue}-deploy`, `${stack.taskQueue}-short-grace`] as const;
    const [deployChild, shortGraceChild] = await Promise.all([
      childWorker(queues[0]),
      childWorker(queues[1], SHORT_GRACE_MS),
    ]);
    deployed = { child: deployChild, taskQueue: queues[0] };
    shortGrace = { child: shortGraceChild, taskQueue: queues[1] };
  });

  after(async () => {
    await deployed?.child.kill();
    await shortGrace?.child.kill();
    await worker?.stop();
    await link?.close();
    await rm(bundleFile, { force: true });
    await stack?.close();
  });

  /** A worker process built as the real one is (`runWorker`), reaching MongoDB through the slow link. */
  const childWorker = (taskQueue: string, shutdownGraceMs?: number) =>
    ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: link.uri,
      mongoDb: stack.db.databaseName,
      taskQueue,
      secret: TEST_SECRET,
      bundlePath: bundleFile,
      pageSize: PAGE_SIZE,
      logLevel: 'error',
      ...(shutdownGraceMs ? { shutdownGraceMs } : {}),
    });

  /** Sends SIGTERM and waits for the process to end; how long it took. */
  async function terminate(child: ChildWorker, graceMs: number): Promise<number> {
    const startedAt = Date.now();
    // SIGKILLed only if it overstays its grace time by far: the assertions below then say so.
    await child.stop(graceMs + 15_000);
    return Date.now() - startedAt;
  }

  test('a worker sent SIGTERM mid-apply finishes its batch, checkpoints it and exits within its grace time; the next worker applies the rest from that checkpoint, as an uninterrupted run would have', async () => {
    const users = generateLuccaUsers({ size: 400, seed: 41, today: TODAY });
    const company = await addTestCompany(stack, users);
    const reference = await addTestCompany(stack, users);
    const { child, taskQueue } = deployed;
    let replacement: RunningWorker | undefined;
    const watched = await connectMongo(MONGODB_URI, stack.db.databaseName, { monitorCommands: true });
    try {
      const clean = await runSync(stack, stack.taskQueue, reference.companyId);
      assert.equal(clean.status, 'succeeded', JSON.stringify(clean.error));
      const total = (await profilesOf(stack, reference.companyId)).length;
      assert.ok(total > 15 * PAGE_SIZE, `a plan of many batches (${total} creates)`);

      const runId = `run-${uniqueSuffix()}`;
      const handle = await startSync(stack, taskQueue, company.companyId, { runId, tuning: TUNING });
      // Read at full speed; from the end of the read, every MongoDB round trip of the worker takes 100 ms or more.
      await until('the last pages of the read', () => nearlyRead(stack, runId, users.length));
      link.latencyMs = 50;
      await until('the apply to write its first batch', async () =>
        (await profileCount(stack, company.companyId)) > 0 ? true : undefined,
      );

      const tookMs = await terminate(child, DEFAULT_SHUTDOWN_GRACE_MS);

      assert.deepEqual(child.exit, { code: 0, signal: null }, 'a clean exit, not a kill');
      assert.ok(tookMs < DEFAULT_SHUTDOWN_GRACE_MS, `exited within its grace time (${tookMs} ms)`);
      const written = await profileCount(stack, company.companyId);
      assert.ok(written < total, `stopped mid-apply (${written} of ${total} profiles written)`);
      const pending = await pendingActivity(handle);
      assert.equal(pending.type, 'applySyncPlan');
      assert.equal(pending.attempt, 2, 'the attempt failed at once, not after its heartbeat timeout');
      assert.equal(pending.failureType, failureType('worker-shutdown'));
      assert.match(
        pending.failureMessage,
        /^Applying the plan stopped at after plan chunk \S+ \(\d+ profile writes so far, 0 updates gathered\) because its worker is shutting down;/,
      );
      assert.equal(pending.checkpoint?.writes, written, 'the batch in flight finished and is in the checkpoint');

      // The next worker (same code, a new process in production) takes the retry.
      link.latencyMs = 0;
      let insertedByReplacement = 0;
      watched.client.on('commandStarted', (e) => {
        if (e.commandName === 'insert' && e.command.insert === 'profiles') {
          insertedByReplacement += (e.command.documents as unknown[]).length;
        }
      });
      replacement = await startWorker(stack, taskQueue, { lucca, repos: repositories(watched.db) });
      const result = await handle.result();

      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      assert.equal(insertedByReplacement, total - written, 'resumed after the checkpoint: no batch applied twice');
      const profiles = await profilesOf(stack, company.companyId);
      assert.deepEqual(profileViews(profiles), profileViews(await profilesOf(stack, reference.companyId)));
      const ids = profiles.map((p) => p.lucca?.userId);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate profile');
      assert.deepEqual(result.counts, clean.counts);
      assert.equal(result.profileWrites, clean.profileWrites);
      assert.equal((await stack.repos.syncRuns.get(runId))?.status, 'succeeded');
    } finally {
      link.latencyMs = 0;
      await child.kill();
      await replacement?.stop();
      await watched.client.close();
    }
  });

  test('a worker whose Lucca page never comes when it is sent SIGTERM still exits within its grace time, and the next worker resumes the read from its checkpoint', async () => {
    const graceMs = SHORT_GRACE_MS;
    const users = generateLuccaUsers({ size: 8 * PAGE_SIZE, seed: 42, today: TODAY });
    const company = await addTestCompany(stack, users);
    const reference = await addTestCompany(stack, users);
    // Each page after the first starts one user early (the Lucca client's overlap check).
    const stuckOffset = 3 * (PAGE_SIZE - 1);
    // The fourth page takes a minute: fifteen times the grace time.
    stack.lucca.addFault({ tenant: company.tenant, kind: 'slow', delayMs: 60_000, whenOffset: stuckOffset, times: 1 });
    const { child, taskQueue } = shortGrace;
    const pagings = () => stack.lucca.requests(company.tenant).map((r) => r.query.paging);
    let replacement: RunningWorker | undefined;
    try {
      const uninterrupted = runSync(stack, stack.taskQueue, reference.companyId);
      const runId = `run-${uniqueSuffix()}`;
      const handle = await startSync(stack, taskQueue, company.companyId, { runId, tuning: TUNING });
      await until('the fourth page to be asked for, three read', async () =>
        pagings().includes(`${stuckOffset},${PAGE_SIZE}`) && (await runProgress(stack, runId))?.pagesRead === 3
          ? true
          : undefined,
      );

      const tookMs = await terminate(child, graceMs);

      assert.deepEqual(child.exit, { code: 0, signal: null }, 'a clean exit, not a kill');
      assert.ok(tookMs < graceMs, `exited within its grace time (${tookMs} ms)`);
      assert.ok(
        tookMs >= shutdownDrainMs(graceMs) - 500,
        `the page was waited for until the drain time (${tookMs} ms)`,
      );
      const pending = await pendingActivity(handle);
      assert.equal(pending.type, 'fetchLuccaUsers');
      assert.equal(pending.attempt, 2, 'the attempt failed at once, not after its heartbeat timeout');
      assert.equal(pending.failureType, failureType('worker-shutdown'));
      assert.match(
        pending.failureMessage,
        /^Reading Lucca stopped at page 4 \(Lucca offset 58\) because its worker is shutting down \(the step in flight did not end within 3 s\);/,
      );

      replacement = await startWorker(stack, taskQueue, { lucca });
      const result = await handle.result();
      const clean = await uninterrupted;

      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      assert.deepEqual(
        profileViews(await profilesOf(stack, company.companyId)),
        profileViews(await profilesOf(stack, reference.companyId)),
      );
      assert.deepEqual(result.counts, clean.counts);
      assert.equal(pagings().filter((p) => p === `0,${PAGE_SIZE}`).length, 1, 'the first page was not read again');
      assert.equal(
        pagings().filter((p) => p === `${stuckOffset},${PAGE_SIZE}`).length,
        2,
        'the stuck page was asked again',
      );
    } finally {
      await child.kill();
      await replacement?.stop();
    }
  });

  test('a run cancelled mid-apply (offboarding) ends failed with code cancelled, part of its plan applied, and writes nothing once it has ended', async () => {
    const users = generateLuccaUsers({ size: 400, seed: 43, today: TODAY });
    const { companyId } = await addTestCompany(stack, users);
    const taskQueue = `${stack.taskQueue}-cancel`;
    const slow = await connectMongo(link.uri, stack.db.databaseName);
    let slowWorker: RunningWorker | undefined;
    try {
      link.latencyMs = 0;
      slowWorker = await startWorker(stack, taskQueue, { lucca, repos: repositories(slow.db) });
      // The company workflow's settings: the cancellation reaches the activity with its heartbeats.
      const runId = `run-${uniqueSuffix()}`;
      const handle = await startSync(stack, taskQueue, companyId, { runId, tuning: undefined });
      await until('the last pages of the read', () => nearlyRead(stack, runId, users.length));
      link.latencyMs = 50;
      await until('the apply to write its first batch', async () =>
        (await profileCount(stack, companyId)) > 0 ? true : undefined,
      );

      const cancelledAt = Date.now();
      await handle.cancel();
      await assert.rejects(handle.result(), WorkflowFailedError);
      const tookMs = Date.now() - cancelledAt;

      const run = (await stack.repos.syncRuns.get(runId))!;
      assert.equal(run.status, 'failed');
      assert.equal(run.error?.code, 'cancelled');
      assert.match(run.error?.message ?? '', /cancelled while applying its plan; part of it may be applied/);
      const written = await profileCount(stack, companyId);
      const planned = run.counts?.created ?? 0;
      assert.ok(written < planned, `it stopped before the end of the apply (${written} of ${planned} written)`);
      assert.ok(tookMs < 10_000, `within seconds (${tookMs} ms)`);
      // The run waited for its apply to stop at a checkpoint before it finished (and dropped the
      // working data the apply was using): the apply acknowledged the cancellation in the history.
      const events = (await handle.fetchHistory()).events ?? [];
      const acknowledgedAt = events.findIndex((e) => e.activityTaskCanceledEventAttributes);
      const finishAt = events.findIndex(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'finishSyncRun',
      );
      assert.ok(acknowledgedAt > 0, 'the apply acknowledged the cancellation');
      assert.ok(acknowledgedAt < finishAt, 'before the run finished');
      assert.equal(slowWorker.worker.getStatus().numInFlightActivities, 0, 'no activity left running');
      assert.equal(await profileCount(stack, companyId), written, 'nothing written after the run ended');
    } finally {
      link.latencyMs = 0;
      await slowWorker?.stop();
      await slow.client.close();
    }
  });
});
