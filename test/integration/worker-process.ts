import { readFile } from 'node:fs/promises';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { connectMongo, repositories } from '../../db/mongo';
import { createSyncWorker } from '../../workers/worker';
import { NAMESPACE, TEST_SECRET } from './helpers';

/**
 * A sync worker in its own process, so a test can SIGKILL it mid-run the way a crashed pod dies:
 * no shutdown, no last heartbeat. Configured by environment:
 * TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB, TASK_QUEUE, LUCCA_PAGE_SIZE, WORKFLOW_BUNDLE (a file
 * holding pre-bundled workflow code, so the child does not spend seconds bundling).
 * Prints `worker-ready` on stdout once it polls.
 */
function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

Runtime.install({ logger: new DefaultLogger('ERROR') });
const { db } = await connectMongo(env('MONGODB_URI'), env('MONGODB_DB'));
const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
const bundlePath = process.env.WORKFLOW_BUNDLE;
const worker = await createSyncWorker({
  connection,
  namespace: NAMESPACE,
  taskQueue: env('TASK_QUEUE'),
  deps: {
    repos: repositories(db),
    secret: TEST_SECRET,
    lucca: { timeoutMs: 5_000, rateLimit: null, pageSize: Number(process.env.LUCCA_PAGE_SIZE ?? 1000) },
  },
  ...(bundlePath ? { workflowBundle: { code: await readFile(bundlePath, 'utf8') } } : {}),
});
const running = worker.run();
process.stdout.write('worker-ready\n');
await running;
