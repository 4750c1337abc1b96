import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { freePort } from '../../dev-tools/stack/ports';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { SYNC_METRICS } from '../../activities/metrics';
import { loadConfig } from '../../config/env';
import { loadConsoleSettings } from '../../console/config';
import { buildConsole } from '../../console/server';
import { repositories } from '../../db/mongo';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { found, personalData } from './privacy-kit';
import {
  MONGODB_URI,
  openStack,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  type Stack,
  workflowBundleFile,
} from './helpers';
import { parseMetrics, total } from './metrics-kit';
import { addTestCompany, runSync, staff, until } from './sync-kit';

describe('a worker process exposes Prometheus metrics and health probes', () => {
  let stack: Stack;
  let child: ChildWorker | undefined;
  let bundleFile: string;
  let metricsUrl: string;
  let healthUrl: string;
  const taskQueue = `test-observability-${uniqueSuffix()}`;

  before(async () => {
    stack = await openStack('observability');
    bundleFile = await workflowBundleFile();
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    healthUrl = `http://127.0.0.1:${healthPort}`;
    child = await ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: MONGODB_URI,
      mongoDb: stack.db.databaseName,
      taskQueue,
      secret: TEST_SECRET,
      bundlePath: bundleFile,
      logLevel: 'error',
      metricsAddress: `127.0.0.1:${metricsPort}`,
      healthAddress: `127.0.0.1:${healthPort}`,
    });
  });

  after(async () => {
    await child?.stop();
    await rm(bundleFile, { force: true });
    await stack?.close();
  });

  test('the worker is live, and ready once it polls its task queue with MongoDB answering', async () => {
    const live = await fetch(`${healthUrl}/healthz`);
    assert.equal(live.status, 200);
    assert.equal(((await live.json()) as { live: boolean }).live, true);

    const ready = await until<unknown>('the worker to be ready', async () => {
      const response = await fetch(`${healthUrl}/readyz`);
      return response.status === 200 ? response.json() : undefined;
    });
    assert.deepEqual(ready, { ready: true, worker: 'RUNNING', mongodb: 'ok' });
  });

  test("runs, profiles written, guard blocks and Lucca requests are counted with the SDK's metrics, without company ids or personal data", async () => {
    const users = staff(7);
    const company = await addTestCompany(stack, users);
    // One 429 on the first page: waited out, then counted apart from the requests that went through.
    stack.lucca.addFault({ tenant: company.tenant, kind: 'status', status: 429, retryAfter: '1' });

    const applied = await runSync(stack, taskQueue, company.companyId);
    assert.equal(applied.status, 'succeeded', JSON.stringify(applied.error));
    assert.equal(applied.counts?.created, 7);
    const dryRun = await runSync(stack, taskQueue, company.companyId, { dryRun: true });
    assert.equal(dryRun.status, 'succeeded');
    // Six of seven people gone from Lucca: past the deactivation guard (max(5, 10 %)).
    stack.lucca.mutateUsers(company.tenant, (all) => all.slice(0, 1));
    const blocked = await runSync(stack, taskQueue, company.companyId);
    assert.equal(blocked.status, 'blocked');

    const text = await (await fetch(metricsUrl)).text();
    const samples = parseMetrics(text);
    const { runs, profilesWritten, luccaRequests, guardBlocks, runDuration } = SYNC_METRICS;
    assert.equal(total(samples, runs, { outcome: 'succeeded', trigger: 'manual' }), 1, text);
    assert.equal(total(samples, runs, { outcome: 'dry-run' }), 1);
    assert.equal(total(samples, runs, { outcome: 'blocked' }), 1);
    assert.equal(total(samples, runs, { outcome: 'failed' }), 0);
    assert.equal(total(samples, `${runDuration}_count`), 3, 'every run timed');
    assert.equal(total(samples, profilesWritten, { action: 'created' }), 7, 'the applied run only');
    assert.equal(total(samples, profilesWritten, { action: 'deactivated' }), 0, 'the blocked run wrote nothing');
    assert.equal(total(samples, guardBlocks, { guard: 'mass-deactivation' }), 1);
    // One page per run (7 users), plus the request answered 429.
    assert.equal(total(samples, luccaRequests, { outcome: 'ok' }), 3);
    assert.equal(total(samples, luccaRequests, { outcome: 'lucca-rate-limited' }), 1);
    const sdkMetric = samples.find((s) => s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue);
    assert.ok(sdkMetric, "the Temporal SDK's own metrics are on the same endpoint");

    assert.ok(!text.includes(company.companyId), 'no company id in any label');
    assert.deepEqual(found(text, personalData(users)), [], 'no personal data in the metrics');
  });
});

describe("the console's probes", () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('console-probes');
  });

  after(async () => {
    await stack?.close();
  });

  test('/healthz and /readyz answer without a login and leave no session; ready only while MongoDB and Temporal answer', async () => {
    const settings = await loadConsoleSettings({ ADMIN_PASSWORD: `probes-${uniqueSuffix()}-password` });
    const config = loadConfig({ MONGODB_URI, MONGODB_DB: stack.db.databaseName, TEMPORAL_ADDRESS });
    const app = await buildConsole({
      deps: { repos: stack.repos, client: stack.client, config },
      settings,
      db: stack.db,
    });
    // The same console, its operations pointed at a MongoDB and a Temporal that do not answer.
    const nowhere = 'mongodb://127.0.0.1:1';
    const deadMongo = new MongoClient(nowhere, { serverSelectionTimeoutMS: 500 });
    const deadTemporal = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const stranded = await buildConsole({
      deps: {
        repos: repositories(deadMongo.db('nowhere')),
        client: new Client({ connection: deadTemporal }),
        config: loadConfig({ MONGODB_URI: nowhere, TEMPORAL_ADDRESS: '127.0.0.1:1' }),
      },
      settings,
      db: stack.db,
    });
    try {
      const live = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(live.statusCode, 200);
      assert.deepEqual(live.json(), { live: true });
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.deepEqual(ready.json(), { ready: true, mongodb: 'ok', temporal: 'ok' });
      for (const response of [live, ready]) assert.equal(response.headers['set-cookie'], undefined, 'no session');
      assert.equal(await stack.db.collection('consoleSessions').countDocuments({}), 0, 'no session stored');

      const notReady = await stranded.inject({ method: 'GET', url: '/readyz' });
      assert.equal(notReady.statusCode, 503);
      assert.deepEqual(notReady.json(), { ready: false, mongodb: 'unavailable', temporal: 'unavailable' });
      assert.equal((await stranded.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still live');
    } finally {
      await app.close();
      await stranded.close();
      await deadMongo.close();
      await deadTemporal.close();
    }
  });
});
