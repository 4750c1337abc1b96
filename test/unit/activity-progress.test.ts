import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { ActivityCancellationDetails, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { watchProgress } from '../../activities/progress';
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

  test('a cancellation Temporal asked for (offboarding) stops the activity at its next checkpoint; a worker shutdown does not', async () => {
    const run = async (details: ActivityCancellationDetails) => {
      const env = environment();
      let checkpoints = 0;
      const attempt = env.run(() =>
        watchProgress(
          'Applying',
          { page: 0 },
          { stallTimeoutMs: 10_000, describe: describeCheckpoint },
          async (watch) => {
            for (let page = 1; page <= 5; page++) {
              if (page === 3) env.cancel(details.cancelRequested ? 'CANCELLED' : 'WORKER_SHUTDOWN', details);
              watch.checkpoint({ page });
              checkpoints += 1;
            }
            return 'done';
          },
        ),
      );
      return { outcome: await attempt.then(String, (err: unknown) => err), checkpoints };
    };
    const cancelled = await run(new ActivityCancellationDetails({ cancelRequested: true }));
    assert.ok(cancelled.outcome instanceof CancelledFailure, String(cancelled.outcome));
    assert.equal(cancelled.checkpoints, 2, 'nothing after the checkpoint that saw it');
    const shutdown = await run(new ActivityCancellationDetails({ workerShutdown: true }));
    assert.deepEqual(shutdown, { outcome: 'done', checkpoints: 5 });
  });
});
