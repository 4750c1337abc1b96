import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { WORKFLOWS_PATH } from '../temporal/workflow-code';

export { WORKFLOWS_PATH };

/**
 * How long a stopping worker (SIGTERM, a deploy) gives its activities in flight. Under
 * Kubernetes' default termination grace of 30 s, with room to report and disconnect.
 */
export const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

/**
 * How long, at shutdown, an activity has to reach its next checkpoint before its attempt is given
 * up (see `ShutdownNotice`): the grace time, less what reporting the failures and closing the
 * connections take — so that the process is gone within its grace time, a stuck step included.
 * Temporal itself cancels whatever is still running once the grace time is over.
 */
export function shutdownDrainMs(graceMs: number): number {
  return graceMs - Math.min(5_000, graceMs / 4);
}

export interface SyncWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /**
   * Pre-bundled workflow code: the build's bundle file (`{ codePath }`), or code tests bundle once
   * per process; otherwise bundled at creation.
   */
  workflowBundle?: WorkflowBundleOption;
  maxConcurrentActivityTaskExecutions?: number;
  /**
   * Worker versioning (off when absent): the worker polls as this deployment version. Each
   * workflow says how it moves between versions (`setWorkflowOptions` beside it): the short ones
   * stay pinned to the version that started them, the company's workflow follows the current one.
   */
  deployment?: { deploymentName: string; buildId: string };
  /** See `DEFAULT_SHUTDOWN_GRACE_MS`. */
  shutdownGraceMs?: number;
}

/** Activities a worker runs at once, unless told otherwise. */
export const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 20;

/** How often, at most, an activity's heartbeats reach the server (see `maxHeartbeatThrottleInterval`). */
export const HEARTBEAT_THROTTLE_MS = 2_000;

/** The composition root of a worker: dependencies → activities → Worker. */
export function createSyncWorker(opts: SyncWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.deps),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    ...(opts.deployment
      ? {
          workerDeploymentOptions: {
            version: opts.deployment,
            useWorkerVersioning: true,
            // What a workflow that does not say gets: one started before versioning was turned on
            // (workflows/index.ts) keeps following the current build, as unversioned workflows do.
            defaultVersioningBehavior: 'AUTO_UPGRADE' as const,
          },
        }
      : {}),
    // Activities in flight at shutdown stop at their next checkpoint (`deps.shutdown`); whatever is
    // still running after this is cancelled by Temporal.
    shutdownGraceTime: opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
    // A cancellation reaches an activity in the answer to a heartbeat sent to the server: sent at
    // most this far apart (default 80 % of the 60 s heartbeat timeout), a cancelled run's read or
    // apply stops within seconds of offboarding, not most of a minute.
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MS,
  });
}
