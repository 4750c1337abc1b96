import type { State } from '@temporalio/worker';
import Fastify from 'fastify';
import { formatListenAddress, type ListenAddress } from '../config/env';

/** What the probes look at; the worker is undefined while it is being built (bundling takes seconds). */
export interface WorkerHealthChecks {
  workerState(): State | undefined;
  /** Resolves when MongoDB answers in time. */
  pingMongo(): Promise<void>;
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The worker's probes (`WORKER_HEALTH_ADDRESS`), for an orchestrator such as Kubernetes:
 * - `/healthz` (liveness): 200 while the process serves, from before the worker is built; 503 once
 *   the worker has failed, so the process is restarted.
 * - `/readyz` (readiness): 200 only while the worker polls its task queue (`RUNNING`) and MongoDB
 *   answers; 503 otherwise (starting, shutting down, MongoDB away).
 * Both answer a small JSON of states, nothing else.
 */
export async function startHealthServer(address: ListenAddress, checks: WorkerHealthChecks): Promise<HealthServer> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_request, reply) => {
    const worker = checks.workerState() ?? 'STARTING';
    return reply.code(worker === 'FAILED' ? 503 : 200).send({ live: worker !== 'FAILED', worker });
  });
  app.get('/readyz', async (_request, reply) => {
    const worker = checks.workerState() ?? 'STARTING';
    const mongodb = await checks.pingMongo().then(
      () => 'ok' as const,
      () => 'unavailable' as const,
    );
    const ready = worker === 'RUNNING' && mongodb === 'ok';
    return reply.code(ready ? 200 : 503).send({ ready, worker, mongodb });
  });
  await app.listen({ host: address.host, port: address.port });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  return { url: `http://${formatListenAddress({ host: address.host, port })}`, close: () => app.close() };
}
