import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protos from '@temporalio/proto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import type { Db, MongoClient } from 'mongodb';
import { DEFAULT_SECRET_ID } from '../../config/env';
import { apiKeyHint, encryptApiKey, keyringOf } from '../../db/api-key-cipher';
import {
  connectMongo,
  ensureIndexes,
  platformCollections,
  repositories,
  type PlatformCollections,
  type Repositories,
} from '../../db/mongo';
import type { ActivityDeps } from '../../activities';
import { createSyncWorker, WORKFLOWS_PATH } from '../../workers/worker';
import { companyWorkflowId, datesScheduleId, scheduleId } from '../../temporal/ids';
import { startFakeLucca, type FakeLucca } from '../../dev-tools/fake-lucca';
import { TEMPORAL_CLI, toolPath } from '../../dev-tools/stack/tools';

/**
 * The real stack for integration tests: the Temporal dev server and FerretDB (or MONGODB_URI)
 * started by `dev-tools/run-stack-tests.ts integration`, plus an in-process fake Lucca. Each test file gets its
 * own database, task queue and ids, so files never see each other's data.
 */
export const TEST_SECRET = 'integration-test-secret-0123456789abcdef';
/** What a worker given LUCCA_SYNC_SECRET=TEST_SECRET holds. */
export const TEST_KEYRING = keyringOf([{ id: DEFAULT_SECRET_ID, secret: TEST_SECRET }]);
/** The fake Lucca listens on loopback: what LUCCA_ALLOWED_HOSTS must allow for it. */
export const FAKE_LUCCA_HOSTS = ['http://127.0.0.1:*'];
export const TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
export const MONGODB_URI = process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017';
export const NAMESPACE = 'default';

/** The bundle `run-stack-tests.ts` made once for the whole suite, from this working tree. */
const SUITE_BUNDLE = process.env.TEST_WORKFLOW_BUNDLE;

let bundle: Promise<WorkflowBundle> | undefined;
/** Bundling takes seconds: once per suite (or once per test process run on its own). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= SUITE_BUNDLE
    ? readFile(SUITE_BUNDLE, 'utf8').then((code) => ({ code }))
    : bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  return bundle;
}

let runtimeInstalled = false;
function quietRuntime() {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  // Many tests fail activities on purpose (a revoked key, Lucca down): the SDK logs each failed
  // attempt as a warning with its stack, pages of noise around a passing run. A test's own
  // assertions report what went wrong; TEST_LOG_LEVEL=warn (or debug) shows the SDK's logs too.
  const level = ({ debug: 'DEBUG', info: 'INFO', warn: 'WARN' } as const)[process.env.TEST_LOG_LEVEL ?? ''] ?? 'ERROR';
  Runtime.install({ logger: new DefaultLogger(level) });
}

export const uniqueSuffix = () => randomBytes(4).toString('hex');

/** The workflow bundle (built once per process) in a temporary file, for worker processes to load. */
export async function workflowBundleFile(): Promise<string> {
  const file = path.join(tmpdir(), `lucca-sync-bundle-${uniqueSuffix()}.js`);
  await writeFile(file, (await workflowBundle()).code);
  return file;
}

export interface Stack {
  mongo: MongoClient;
  db: Db;
  repos: Repositories;
  /** The collections past the repositories: the platform's own writes, and what the store holds. */
  store: PlatformCollections;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  lucca: FakeLucca;
  taskQueue: string;
  close(): Promise<void>;
}

export async function openStack(name: string): Promise<Stack> {
  quietRuntime();
  const suffix = uniqueSuffix();
  const { client: mongo, db } = await connectMongo(MONGODB_URI, `test_${name}_${suffix}`.slice(0, 60));
  const repos = repositories(db);
  await ensureIndexes(repos);
  const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: NAMESPACE });
  const nativeConnection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
  const lucca = await startFakeLucca({ port: 0 });
  return {
    mongo,
    db,
    repos,
    store: platformCollections(db),
    client,
    connection,
    nativeConnection,
    lucca,
    taskQueue: `test-${name}-${suffix}`,
    async close() {
      await lucca.close();
      await db.dropDatabase().catch(() => undefined);
      await mongo.close();
      await nativeConnection.close();
      await connection.close();
    },
  };
}

export function activityDeps(stack: Stack, overrides: Partial<ActivityDeps> = {}): ActivityDeps {
  return {
    repos: stack.repos,
    keyring: TEST_KEYRING,
    lucca: { timeoutMs: 5_000, rateLimit: null, allowedHosts: FAKE_LUCCA_HOSTS },
    ...overrides,
  };
}

export async function createWorker(stack: Stack, overrides: Partial<ActivityDeps> = {}) {
  return createSyncWorker({
    connection: stack.nativeConnection,
    namespace: NAMESPACE,
    taskQueue: stack.taskQueue,
    deps: activityDeps(stack, overrides),
    workflowBundle: await workflowBundle(),
  });
}

/** The settings a CLI, console or operation of the tests runs with: this stack, the test secret, the fake Lucca. */
export const stackEnv = (stack: Stack): Record<string, string> => ({
  TEMPORAL_ADDRESS,
  MONGODB_URI,
  MONGODB_DB: stack.db.databaseName,
  LUCCA_SYNC_SECRET: TEST_SECRET,
  // Any local port: the fake Lucca's (and a closed one, for "unreachable").
  LUCCA_ALLOWED_HOSTS: FAKE_LUCCA_HOSTS.join(','),
  LUCCA_RATE_LIMIT: 'off',
  TASK_QUEUE: stack.taskQueue,
});

export const newApiKey = () =>
  [8, 4, 4, 4, 12].map((n) => randomBytes(n).toString('hex').slice(0, n).toUpperCase()).join('-');

/** Stores a company the way onboarding does (key encrypted), without the Lucca check. */
export async function addCompany(
  stack: Stack,
  opts: { companyId: string; tenant: string; apiKey: string; timezone?: string },
): Promise<void> {
  const now = new Date();
  await stack.repos.companies.upsert({
    id: opts.companyId,
    name: `Company ${opts.companyId}`,
    timezone: opts.timezone ?? 'Europe/Paris',
    baseUrl: stack.lucca.tenantUrl(opts.tenant),
    encryptedApiKey: encryptApiKey(
      TEST_KEYRING,
      { companyId: opts.companyId, baseUrl: stack.lucca.tenantUrl(opts.tenant) },
      opts.apiKey,
    ),
    apiKeyHint: apiKeyHint(opts.apiKey),
    connectionId: randomUUID(),
    every: '24h',
    now,
  });
}

/**
 * Deletes the companies' schedules (the sync's and the dates', which onboarding makes too) and ends
 * their company workflows, so the shared server stays quiet.
 */
export async function forgetCompanies(stack: Stack, companyIds: Iterable<string>, reason: string): Promise<void> {
  for (const companyId of companyIds) {
    for (const id of [scheduleId(companyId), datesScheduleId(companyId)]) {
      await stack.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    await stack.client.workflow
      .getHandle(companyWorkflowId(companyId))
      .terminate(reason)
      .catch(() => undefined);
  }
}

export { WorkflowFailedError };

const execFileAsync = promisify(execFile);

/** Runs the Temporal CLI against the test stack's server (what an operator types) and returns its output. */
export async function temporalCli(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(toolPath(TEMPORAL_CLI), [...args, '--address', TEMPORAL_ADDRESS]);
  return stdout;
}

/**
 * With RECORD_HISTORIES set, keeps a workflow's history as a replay fixture
 * (`test/replay/histories/<type>-<date>-<label>.binpb`), in binary protobuf as the server sent it.
 * A fixture is never overwritten: each released workflow shape keeps its own, and the replay test
 * replays them all against today's code.
 */
export async function recordHistory(stack: Stack, label: string, workflowId: string, runId?: string): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const handle = stack.client.workflow.getHandle(workflowId, runId);
  const [history, description] = await Promise.all([handle.fetchHistory(), handle.describe()]);
  const date = new Date().toISOString().slice(0, 10);
  const file = path.join(REPLAY_HISTORIES, `${description.type}-${date}-${label}.binpb`);
  await mkdir(REPLAY_HISTORIES, { recursive: true });
  await writeFile(file, protos.temporal.api.history.v1.History.encode(history).finish(), { flag: 'wx' }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    },
  );
}

export const REPLAY_HISTORIES = path.join(import.meta.dirname, '..', 'replay', 'histories');
