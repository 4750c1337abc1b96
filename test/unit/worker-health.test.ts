import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { State } from '@temporalio/worker';
import { startHealthServer } from '../../workers/health';

/** The worker's probes over real HTTP, for each state the worker and MongoDB can be in. */
async function probe(workerState: State | undefined, mongoAnswers: boolean) {
  const server = await startHealthServer(
    { host: '127.0.0.1', port: 0 },
    {
      workerState: () => workerState,
      pingMongo: () => (mongoAnswers ? Promise.resolve() : Promise.reject(new Error('no primary'))),
    },
  );
  try {
    const live = await fetch(`${server.url}/healthz`);
    const ready = await fetch(`${server.url}/readyz`);
    return { live: live.status, ready: ready.status, readyBody: await ready.json() };
  } finally {
    await server.close();
  }
}

describe("the worker's health probes", () => {
  test('ready only while the worker polls and MongoDB answers', async () => {
    assert.deepEqual(await probe('RUNNING', true), {
      live: 200,
      ready: 200,
      readyBody: { ready: true, worker: 'RUNNING', mongodb: 'ok' },
    });
    assert.deepEqual(await probe('RUNNING', false), {
      live: 200,
      ready: 503,
      readyBody: { ready: false, worker: 'RUNNING', mongodb: 'unavailable' },
    });
  });

  test('live but not ready while the worker is built or shuts down; not live once it failed', async () => {
    assert.deepEqual(await probe(undefined, true), {
      live: 200,
      ready: 503,
      readyBody: { ready: false, worker: 'STARTING', mongodb: 'ok' },
    });
    for (const state of ['INITIALIZED', 'STOPPING', 'DRAINING', 'STOPPED'] as const) {
      const { live, ready } = await probe(state, true);
      assert.deepEqual({ live, ready }, { live: 200, ready: 503 }, state);
    }
    const failed = await probe('FAILED', true);
    assert.deepEqual({ live: failed.live, ready: failed.ready }, { live: 503, ready: 503 });
  });
});
