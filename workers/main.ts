import os from 'node:os';
import { setMaxListeners } from 'node:events';
import { Client, Connection } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { MongoClient } from 'mongodb';
import { formatListenAddress, loadConfig, requireKeyring, type AppConfig } from '../config/env';
import { connectMongo, ensureIndexes, repositories } from '../db/mongo';
import { startHealthServer, type HealthServer } from './health';
import { createLogger, installTemporalRuntime } from './logger';
import { closeMailTransports } from '../activities/alert-context';
import { ensureSweepSchedule } from '../operations/sweeper';
import { ensureSearchAttributes } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { loadBuiltWorkflowBundle, RUNNING_COMPILED, workflowBuildId, WORKFLOWS_PATH } from '../temporal/workflow-code';
import {
  createSyncWorker,
  DEFAULT_MAX_CONCURRENT_ACTIVITIES,
  DEFAULT_SHUTDOWN_GRACE_MS,
  shutdownDrainMs,
} from './worker';

/** Readiness probes time out after a second by default (Kubernetes): MongoDB answers well within it or is not ready. */
const HEALTH_PING_TIMEOUT_MS = 800;

export interface RunWorkerOptions {
  config?: AppConfig;
  /** Called once the worker has started polling its task queue. */
  onReady?: () => void;
  /**
   * Pre-bundled workflow code (child workers of the benchmark and the tests); otherwise the
   * build's bundle when running compiled, or bundled at start from source.
   */
  workflowBundle?: WorkflowBundleOption;
  /** Users per Lucca page (tests use small pages for many pages per company); default Lucca's 1,000. */
  luccaPageSize?: number;
  /** MongoDB's client monitors its commands and is handed over once connected (the benchmark counts them). */
  monitorCommands?: (client: MongoClient) => void;
  /**
   * Make sure the sweeper's schedule exists for this task queue (default true). Child workers of
   * the benchmark and the tests, on throwaway task queues, leave it off.
   */
  sweepSchedule?: boolean;
  /** How long a stopping worker gives its activities (default `DEFAULT_SHUTDOWN_GRACE_MS`); tests shorten it. */
  shutdownGraceMs?: number;
}

/**
 * The workflow code this worker runs and its build id (the bundle's content hash): the bundle
 * given, the one `npm run build` made when running compiled, or a bundle of the sources made now
 * (seconds of webpack: what a worker run through tsx pays at every start).
 */
async function workflowCode(
  given: WorkflowBundleOption | undefined,
): Promise<{ bundle: WorkflowBundleOption; buildId: string }> {
  if (given) {
    const code = 'code' in given ? given.code : await readFile(given.codePath, 'utf8');
    return { bundle: given, buildId: workflowBuildId(code) };
  }
  if (RUNNING_COMPILED) {
    const { codePath, buildId } = await loadBuiltWorkflowBundle();
    return { bundle: { codePath }, buildId };
  }
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: Runtime.instance().logger });
  return { bundle: { code }, buildId: workflowBuildId(code) };
}

/**
 * The worker process, the one way every entry point builds one (`npm run worker`, and the child
 * workers of the benchmark, the chaos checks and the crash tests): config → MongoDB (indexes) →
 * Temporal connections → Worker, until SIGINT or SIGTERM. Shutdown lets in-flight activities
 * finish or heartbeat their checkpoint first.
 */
export async function runWorker(opts: RunWorkerOptions = {}): Promise<void> {
  const config = opts.config ?? loadConfig();
  const keyring = requireKeyring(config);
  const logger = createLogger(config.LOG_LEVEL);
  const metricsAddress = config.WORKER_METRICS_ADDRESS && formatListenAddress(config.WORKER_METRICS_ADDRESS);
  installTemporalRuntime(logger, metricsAddress ? { metricsBindAddress: metricsAddress } : {});
  if (metricsAddress) logger.info({ address: metricsAddress }, 'Prometheus metrics at /metrics');

  const { client: mongo, db } = await connectMongo(config.MONGODB_URI, config.MONGODB_DB, {
    monitorCommands: opts.monitorCommands !== undefined,
    onReconnect: ({ stuckMs }) =>
      logger.warn(
        { stuckMs },
        "The store client's server monitor had a heartbeat unanswered for good: the client is reconnected",
      ),
  });
  opts.monitorCommands?.(mongo);
  const repos = repositories(db);
  // Up before the worker is built (bundling the workflows takes seconds): live, not ready yet.
  const built: { worker?: Worker } = {};
  let health: HealthServer | undefined;
  if (config.WORKER_HEALTH_ADDRESS) {
    health = await startHealthServer(config.WORKER_HEALTH_ADDRESS, {
      workerState: () => built.worker?.getState(),
      pingMongo: () => repos.companies.ping(HEALTH_PING_TIMEOUT_MS),
    });
    logger.info({ address: formatListenAddress(config.WORKER_HEALTH_ADDRESS) }, 'Health checks at /healthz, /readyz');
  }
  await ensureIndexes(repos);

  const code = await workflowCode(opts.workflowBundle);
  const buildId = config.WORKER_BUILD_ID || code.buildId;
  const deployment = config.WORKER_DEPLOYMENT_NAME
    ? { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId }
    : undefined;

  const { connectionOptions, namespace } = config.temporal;
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  // The schedule's activity signals company workflows: it needs a client of its own.
  const connection = await Connection.connect(connectionOptions);
  const client = new Client({ connection, namespace });

  // Told at SIGTERM, before Temporal is: the sync activities stop at their next checkpoint.
  const shutdownGraceMs = opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const shuttingDown = new AbortController();
  // Every activity in flight listens for it (activities/progress.ts), one each: past Node's 10
  // listeners it would warn of a leak that is only a busy worker; past one per activity it is one.
  setMaxListeners(DEFAULT_MAX_CONCURRENT_ACTIVITIES, shuttingDown.signal);
  const worker = await createSyncWorker({
    connection: nativeConnection,
    namespace,
    taskQueue: config.TASK_QUEUE,
    deps: {
      repos,
      keyring,
      lucca: {
        timeoutMs: config.LUCCA_TIMEOUT_MS,
        maxPageBytes: config.LUCCA_MAX_PAGE_BYTES,
        rateLimit: config.LUCCA_RATE_LIMIT,
        pageSize: opts.luccaPageSize,
        allowedHosts: config.LUCCA_ALLOWED_HOSTS,
      },
      stallTimeoutMs: config.SYNC_STALL_TIMEOUT_MS,
      changesRetentionDays: config.SYNC_CHANGES_RETENTION_DAYS,
      temporal: { client, taskQueue: config.TASK_QUEUE },
      alerts: {
        ...(config.SMTP_URL ? { smtpUrl: config.SMTP_URL } : {}),
        from: config.ALERT_EMAIL_FROM,
        ...(config.CONSOLE_PUBLIC_URL ? { consoleUrl: new URL(config.CONSOLE_PUBLIC_URL).origin } : {}),
        httpOrigins: config.ALERT_WEBHOOK_HTTP_ORIGINS,
      },
      shutdown: { signal: shuttingDown.signal, drainMs: shutdownDrainMs(shutdownGraceMs) },
    },
    shutdownGraceMs,
    workflowBundle: code.bundle,
    ...(deployment ? { deployment } : {}),
  });
  built.worker = worker;

  // A run workflow records its outcome in `SyncOutcome`: on a namespace without the attribute its
  // last workflow task would fail until someone adds it. Temporal Cloud refuses this call: there,
  // the attributes are added once with `tcld` (see docs/operating.md, "Temporal: where to look"), and the error says so.
  await ensureSearchAttributes(connection, namespace).then(
    (added) => added.length > 0 && logger.info({ namespace, added }, 'Search attributes registered'),
    (err: unknown) =>
      logger.error(
        {
          namespace,
          attributes: Object.keys(SEARCH_ATTRIBUTES),
          error: err instanceof Error ? err.message : String(err),
        },
        'Could not check or register the search attributes: add them to the namespace, or runs cannot record their outcome',
      ),
  );

  if (opts.sweepSchedule ?? true) {
    // Housekeeping, not the worker's job: a worker that cannot create it still syncs (and says so);
    // the next worker to start creates it.
    await ensureSweepSchedule(client, config.TASK_QUEUE).then(
      (outcome) => logger.info({ taskQueue: config.TASK_QUEUE, outcome }, 'Sweeper schedule in place'),
      (err: unknown) =>
        logger.error(
          { taskQueue: config.TASK_QUEUE, error: err instanceof Error ? err.message : String(err) },
          'Could not create the sweeper schedule: stuck runs, left-over staging and expired change records are not being removed',
        ),
    );
  }

  const stop = (signal: NodeJS.Signals) => {
    logger.info(
      { signal, graceMs: shutdownGraceMs },
      'Shutting down the worker: activities in flight stop at their next checkpoint and are retried on another worker',
    );
    shuttingDown.abort();
    // The Temporal runtime may have begun the shutdown already (it listens to the same signals).
    if (worker?.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  logger.info(
    {
      taskQueue: config.TASK_QUEUE,
      namespace,
      address: connectionOptions.address,
      host: os.hostname(),
      buildId,
      deployment: deployment?.deploymentName ?? null,
    },
    'Worker started',
  );
  try {
    const running = worker.run();
    opts.onReady?.();
    await running;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await health?.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
    await nativeConnection.close().catch(() => undefined);
    await mongo.close().catch(() => undefined);
    closeMailTransports();
    logger.info('Worker stopped');
  }
}
