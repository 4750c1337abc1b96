// A sync worker as its own process, for the benchmark and the reliability checks: they measure its
// memory, read its logs and SIGKILL it. Configured like the real worker (config/env), plus two
// knobs: WORKFLOW_BUNDLE_PATH (pre-bundled workflow code, so that restarts are quick and webpack
// does not inflate the peak memory being measured), LUCCA_PAGE_SIZE (more pages per company) and
// COUNT_COMMANDS=1 (MongoDB commands counted; a line on stdin asks for the totals so far — not a
// signal: Temporal's runtime shuts the worker down on SIGUSR2).
import { readFile } from 'node:fs/promises';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig, requireSecret } from '../../config/env';
import { connectMongo, ensureIndexes, repositories } from '../../db/mongo';
import { createLogger, installTemporalLogging } from '../../workers/logger';
import { createSyncWorker } from '../../workers/worker';
import { WORKER_COMMAND_COUNTS, WORKER_EXIT, WORKER_READY } from './child-worker';
import { countCommands } from './command-counter';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  installTemporalLogging(logger);
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const pageSize = process.env.LUCCA_PAGE_SIZE ? Number(process.env.LUCCA_PAGE_SIZE) : undefined;

  const counting = process.env.COUNT_COMMANDS === '1';
  const { client: mongo, db } = await connectMongo(config.MONGODB_URI, config.MONGODB_DB, {
    monitorCommands: counting,
  });
  if (counting) {
    const counter = countCommands(mongo);
    process.stdin.on('data', () => {
      process.stdout.write(`${JSON.stringify({ msg: WORKER_COMMAND_COUNTS, ...counter.snapshot() })}\n`);
    });
    // Asking is optional: an open stdin must not keep the process alive once the worker stops.
    (process.stdin as unknown as { unref(): void }).unref();
  }
  const repos = repositories(db);
  await ensureIndexes(repos);
  const connection = await NativeConnection.connect(config.temporal.connectionOptions);
  const worker = await createSyncWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.TASK_QUEUE,
    deps: {
      repos,
      secret: requireSecret(config),
      lucca: { timeoutMs: config.LUCCA_TIMEOUT_MS, rateLimit: config.LUCCA_RATE_LIMIT, pageSize },
      stallTimeoutMs: config.SYNC_STALL_TIMEOUT_MS,
    },
    ...(bundlePath ? { workflowBundle: { code: await readFile(bundlePath, 'utf8') } } : {}),
  });
  process.once('SIGTERM', () => worker.shutdown());
  process.once('SIGINT', () => worker.shutdown());
  const running = worker.run();
  // Plain lines, whatever LOG_LEVEL says: the parent process waits for them.
  process.stdout.write(`${JSON.stringify({ msg: WORKER_READY, pid: process.pid })}\n`);
  try {
    await running;
  } finally {
    await connection.close().catch(() => undefined);
    await mongo.close().catch(() => undefined);
    // maxRSS is in kilobytes.
    process.stdout.write(`${JSON.stringify({ msg: WORKER_EXIT, maxRssKb: process.resourceUsage().maxRSS })}\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
