import {
  WithStartWorkflowOperation,
  WorkflowFailedError,
  type Client,
  type Connection,
  type WorkflowHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import protos from '@temporalio/proto';
import type { companySyncWorkflow } from '../workflows/company-sync';
import {
  failedRunResult,
  requestSyncUpdate,
  syncNowSignal,
  type SyncNowRequest,
  type SyncRequestAccepted,
  type SyncRunResult,
} from '../workflows/messages';
import { companyWorkflowId } from './ids';
import { CompanyIdAttribute, SEARCH_ATTRIBUTES } from './search-attributes';
import type { syncRunWorkflow } from '../workflows/sync-run';

// Client side only: workflow code never imports this file.

/** A signal needs no worker: only the server, which answers in milliseconds. */
const SIGNAL_DEADLINE_MS = 10_000;

function companyWorkflowStart(taskQueue: string, companyId: string) {
  return {
    workflowId: companyWorkflowId(companyId),
    taskQueue,
    args: [{ companyId }] as Parameters<typeof companySyncWorkflow>,
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
  };
}

/**
 * Delivers `syncNow` to a company's workflow, starting it if it is not running (signal-with-start
 * is idempotent on the workflow id). Recorded in the workflow's history at once, worker or not:
 * what a request falls back to when no worker answers its update in time (its key makes the two
 * one request).
 */
export async function signalSyncNowWithStart(
  client: Client,
  taskQueue: string,
  companyId: string,
  request: SyncNowRequest,
): Promise<{ workflowId: string }> {
  const start = companyWorkflowStart(taskQueue, companyId);
  await client.connection.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart<typeof companySyncWorkflow, [SyncNowRequest]>('companySyncWorkflow', {
      ...start,
      signal: syncNowSignal,
      signalArgs: [request],
    }),
  );
  return { workflowId: start.workflowId };
}

/**
 * Queues a sync request with the company's workflow, starting it if it is not running
 * (update-with-start), and returns the id the run it becomes will carry: how an operator's
 * request finds its run exactly, whatever else is queued or running. The request's key is the
 * update's id, so Temporal answers a retry with the first answer. An update waits for a worker to
 * take it: past `answerWithinMs` this throws `WorkflowUpdateRPCTimeoutOrCancelledError`, and the
 * update (admitted by the server, not yet recorded) may still reach the workflow later.
 */
export async function requestSyncWithStart(
  client: Client,
  taskQueue: string,
  companyId: string,
  request: SyncNowRequest,
  opts: { answerWithinMs: number },
): Promise<SyncRequestAccepted & { workflowId: string }> {
  const start = companyWorkflowStart(taskQueue, companyId);
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof companySyncWorkflow>('companySyncWorkflow', {
    ...start,
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const accepted = await client.connection.withDeadline(Date.now() + opts.answerWithinMs, () =>
    client.workflow.executeUpdateWithStart(requestSyncUpdate, {
      args: [request],
      startWorkflowOperation,
      ...(request.requestKey ? { updateId: request.requestKey } : {}),
    }),
  );
  return { ...accepted, workflowId: start.workflowId };
}

/**
 * How recently a live worker shows as a poller of its task queue. `describeTaskQueue` lists a
 * poller with the time its current long poll began, and the server ends a long poll after a
 * minute (on the dev server a live worker's poll was never older than 58 s); a worker that stopped
 * stays listed for minutes, with an older time.
 */
export const WORKER_POLL_WINDOW_MS = 75_000;
const DESCRIBE_DEADLINE_MS = 3_000;

/** Whether a worker polls a task queue for workflow tasks, and when one last did. */
export interface TaskQueueWorkers {
  taskQueue: string;
  serving: boolean;
  /** When the latest poll of a listed worker began; null when the server lists none. */
  lastPollAt: Date | null;
}

/** Asks the server who polls `taskQueue` for workflow tasks (one bounded call). */
export async function taskQueueWorkers(client: Client, taskQueue: string, now = Date.now()): Promise<TaskQueueWorkers> {
  const { enums } = protos.temporal.api;
  const described = await client.connection.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () =>
    client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    }),
  );
  const polls = (described.pollers ?? [])
    .map((p) =>
      p.lastAccessTime
        ? Number(p.lastAccessTime.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6)
        : 0,
    )
    .filter((ms) => ms > 0);
  const last = polls.length > 0 ? Math.max(...polls) : null;
  return {
    taskQueue,
    serving: last !== null && now - last < WORKER_POLL_WINDOW_MS,
    lastPollAt: last === null ? null : new Date(last),
  };
}

/** The task queue of the company's workflow while it runs (where a request to it is served); null when it is not running. */
export async function runningCompanyWorkflowQueue(client: Client, companyId: string): Promise<string | null> {
  try {
    const description = await client.connection.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () =>
      client.workflow.getHandle(companyWorkflowId(companyId)).describe(),
    );
    return description.status.name === 'RUNNING' ? description.taskQueue : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/**
 * A run workflow's result: a failed run fails its workflow (so the UI shows it failed) and carries
 * its result as the failure's details; both ways end here as the run's `SyncRunResult`.
 */
export async function runResult(handle: WorkflowHandle<typeof syncRunWorkflow>): Promise<SyncRunResult> {
  try {
    return await handle.result();
  } catch (err) {
    const result = err instanceof WorkflowFailedError ? failedRunResult(err.cause) : null;
    if (result) return result;
    throw err;
  }
}

/** Registers the workflows' search attributes on the namespace when missing (a new server or namespace). */
export async function ensureSearchAttributes(connection: Connection, namespace = 'default'): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map(([name, type]) => [
        name,
        protos.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${type}`],
      ]),
    ),
  });
  return missing.map(([name]) => name);
}
