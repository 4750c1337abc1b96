import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { ActivityCancellationDetails, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { watchProgress, type ShutdownNotice } from '../../activities/progress';
import { failureType } from '../../domain/failures';

interface Checkpoint {
  page: number;
}
/** The expected failures are asserted on, not logged. */
const environment = () => new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
const describeCheckpoint = (c: Checkpoint) => `page ${c.page}`;

describe('watchProgress (the stall watch of the sync activities)', () => {
  test('fails the attempt, retryably and saying where, when the checkpoint stops moving', async () => {
    const env = environment();
    let abortedBy: unknown;
    const attempt = env.run(() =>
      watchProgress(
        'Reading Lucca',
        { page: 0 },
        { stallTimeoutMs: 300, describe: describeCheckpoint },
        async (watch) => {
          watch.checkpoint({ page: 3 });
          watch.signal.addEventListener('abort', () => {
            abortedBy = watch.signal.reason as unknown;
          });
          return new Promise<never>(() => undefined);
        },
      ),
    );
    await assert.rejects(attempt, (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, failureType('stalled'));
      assert.equal(err.nonRetryable, false);
      assert.match(err.message, /^Reading Lucca made no progress for \d+ s and was stopped at page 3;/);
      return true;
    });
    assert.ok(abortedBy instanceof ApplicationFailure, 'what can be aborted is aborted');
  });

  test('stops what is in flight once the activity is past its schedule-to-close bound, where Temporal has failed it already', async () => {
    const BOUND_MS = 300;
    const env = new MockActivityEnvironment(
      { scheduledTimestampMs: Date.now(), scheduleToCloseTimeoutMs: BOUND_MS },
      { logger: new DefaultLogger('ERROR') },
    );
    let abortedBy: unknown;
    // The step in flight would come back after ten times the bound, moving all along: no stall.
    const attempt = env.run(() =>
      watchProgress(
        'Reading Lucca',
        { page: 0 },
        { stallTimeoutMs: 100 * BOUND_MS, describe: describeCheckpoint },
        async (watch) => {
          watch.checkpoint({ page: 2 });
          watch.signal.addEventListener('abort', () => {
            abortedBy = watch.signal.reason as unknown;
          });
          await sleep(10 * BOUND_MS);
          watch.checkpoint({ page: 3 });
          return 'read';
        },
      ),
    );
    await assert.rejects(attempt, (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, failureType('run-too-long'));
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /^Reading Lucca ran past its bound of 1 s and was stopped at page 2\.$/);
      return true;
    });
    assert.ok(abortedBy instanceof ApplicationFailure, 'what can be aborted is aborted');
  });

  test('lets a long activity run as long as it keeps moving, heartbeating its latest checkpoint', async () => {
    const env = environment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const result = await env.run(() =>
      watchProgress('Applying', { page: 0 }, { stallTimeoutMs: 400, describe: describeCheckpoint }, async (watch) => {
        // Ten checkpoints 100 ms apart: 1 s in all, more than twice the stall limit.
        for (let page = 1; page <= 10; page++) {
          await sleep(100);
          watch.checkpoint({ page });
        }
        return 'done';
      }),
    );
    assert.equal(result, 'done');
    assert.deepEqual(heartbeats.at(-1), { page: 10 });
    assert.deepEqual(heartbeats[0], { page: 0 }, 'the starting checkpoint is heartbeated at once');
  });

  test('stops a stuck step that comes back late, at its next checkpoint', async () => {
    const env = environment();
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    let wroteAfterStall = false;
    let lateCheckpoint: unknown;
    const attempt = env.run(() =>
      watchProgress('Planning', { page: 0 }, { stallTimeoutMs: 200, describe: describeCheckpoint }, async (watch) => {
        await stuck;
        try {
          watch.checkpoint({ page: 1 });
          wroteAfterStall = true;
        } catch (err) {
          lateCheckpoint = err;
        }
      }),
    );
    await assert.rejects(attempt, /Planning made no progress/);
    release();
    await sleep(10);
    assert.equal(wroteAfterStall, false);
    assert.ok(lateCheckpoint instanceof ApplicationFailure);
  });

  /** Five checkpoints, `atThird` called just before the third; what the attempt ended with, and the checkpoints that went through. */
  async function fiveCheckpoints(env: MockActivityEnvironment, atThird: () => void, shutdown?: ShutdownNotice) {
    let checkpoints = 0;
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const attempt = env.run(() =>
      watchProgress(
        'Applying',
        { page: 0 },
        { stallTimeoutMs: 10_000, describe: describeCheckpoint, shutdown },
        async (watch) => {
          for (let page = 1; page <= 5; page++) {
            if (page === 3) atThird();
            watch.checkpoint({ page });
            checkpoints += 1;
          }
          return 'done';
        },
      ),
    );
    return { outcome: await attempt.then(String, (err: unknown) => err), checkpoints, heartbeats };
  }

  const assertShutdownFailure = (outcome: unknown, where: RegExp) => {
    assert.ok(outcome instanceof ApplicationFailure, String(outcome));
    assert.equal(outcome.type, failureType('worker-shutdown'));
    assert.equal(outcome.nonRetryable, false, 'retried at once, on another worker');
    assert.match(outcome.message, where);
  };

  test('a cancellation Temporal asked for (offboarding) stops the activity at its next checkpoint', async () => {
    const env = environment();
    const cancelled = await fiveCheckpoints(env, () =>
      env.cancel('CANCELLED', new ActivityCancellationDetails({ cancelRequested: true })),
    );
    assert.ok(cancelled.outcome instanceof CancelledFailure, String(cancelled.outcome));
    assert.equal(cancelled.checkpoints, 2, 'nothing after the checkpoint that saw it');
  });

  // What the worker hears when the server has given the attempt up: the answer to its next
  // heartbeat says the attempt is not found (its heartbeat timed out; the retry may be running).
  for (const [reason, details] of [
    ['NOT_FOUND', { notFound: true }],
    ['TIMED_OUT', { timedOut: true }],
  ] as const) {
    test(`an attempt Temporal has given up (${reason}) writes nothing more: its next checkpoint stops it`, async () => {
      const env = environment();
      const given = await fiveCheckpoints(env, () => env.cancel(reason, new ActivityCancellationDetails(details)));
      assert.ok(given.outcome instanceof CancelledFailure, String(given.outcome));
      assert.equal(given.checkpoints, 2, 'nothing after the checkpoint that saw it');
    });
  }

  test('an attempt Temporal has given up while its step is stuck ends at once, leaving its slot to the retry', async () => {
    const env = environment();
    let abortedBy: unknown;
    const startedAt = Date.now();
    const attempt = env.run(() =>
      watchProgress(
        'Reading Lucca',
        { page: 0 },
        { stallTimeoutMs: 60_000, describe: describeCheckpoint },
        async (watch) => {
          watch.checkpoint({ page: 2 });
          watch.signal.addEventListener('abort', () => (abortedBy = watch.signal.reason as unknown));
          setTimeout(() => env.cancel('NOT_FOUND', new ActivityCancellationDetails({ notFound: true })), 50);
          // A store command that never answers.
          return new Promise<never>(() => undefined);
        },
      ),
    );
    const outcome = await Promise.race([
      attempt.then(String, (err: unknown) => err),
      sleep(5_000).then(() => 'still running 5 s after Temporal gave it up'),
    ]);
    assert.ok(outcome instanceof CancelledFailure, String(outcome));
    assert.ok(Date.now() - startedAt < 2_000, `ended at once (${Date.now() - startedAt} ms)`);
    assert.equal(abortedBy, outcome, 'what can be aborted is aborted');
  });

  test('when its worker shuts down, the activity heartbeats its next checkpoint and fails there as retryable worker-shutdown', async () => {
    const shuttingDown = new AbortController();
    const shutdown = await fiveCheckpoints(environment(), () => shuttingDown.abort(), {
      signal: shuttingDown.signal,
      drainMs: 10_000,
    });
    assertShutdownFailure(shutdown.outcome, /^Applying stopped at page 3 because its worker is shutting down;/);
    assert.equal(shutdown.checkpoints, 2, 'nothing after the checkpoint that saw it');
    assert.deepEqual(shutdown.heartbeats.at(-1), { page: 3 }, 'the checkpoint it stopped at is heartbeated');
  });

  test("Temporal's own shutdown notice (a cancellation once the grace time is over) stops the activity the same way", async () => {
    const env = environment();
    const shutdown = await fiveCheckpoints(env, () =>
      env.cancel('WORKER_SHUTDOWN', new ActivityCancellationDetails({ workerShutdown: true })),
    );
    assertShutdownFailure(
      shutdown.outcome,
      /^Applying stopped at page 2 because its worker is shutting down \(its grace time is over\);/,
    );
    assert.equal(shutdown.checkpoints, 2);
  });

  test('a step stuck when its worker shuts down is given up after the drain time, at its last checkpoint', async () => {
    const env = environment();
    const shuttingDown = new AbortController();
    let abortedBy: unknown;
    const startedAt = Date.now();
    const attempt = env.run(() =>
      watchProgress(
        'Reading Lucca',
        { page: 0 },
        {
          stallTimeoutMs: 60_000,
          describe: describeCheckpoint,
          shutdown: { signal: shuttingDown.signal, drainMs: 300 },
        },
        async (watch) => {
          watch.checkpoint({ page: 4 });
          watch.signal.addEventListener('abort', () => (abortedBy = watch.signal.reason as unknown));
          shuttingDown.abort();
          // A page that never comes.
          return new Promise<never>(() => undefined);
        },
      ),
    );
    const outcome = await attempt.then(String, (err: unknown) => err);
    assertShutdownFailure(
      outcome,
      /^Reading Lucca stopped at page 4 because its worker is shutting down \(the step in flight did not end within 0.3 s\);/,
    );
    assert.ok(Date.now() - startedAt < 2_000, `given up after the drain time (${Date.now() - startedAt} ms)`);
    assert.equal(abortedBy, outcome, 'what can be aborted is aborted');
  });
});
