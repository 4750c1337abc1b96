import {
  WithStartWorkflowOperation,
  WorkflowFailedError,
  type Client,
  type Connection,
  type WorkflowHandle,
} from '@temporalio/client';
import protos from '@temporalio/proto';
import type { companySyncWorkflow } from './company-sync';
import {
  CompanyIdAttribute,
  companyWorkflowId,
  failedRunResult,
  requestSyncUpdate,
  SEARCH_ATTRIBUTES,
  syncNowSignal,
  type SyncNowRequest,
  type SyncRequestAccepted,
  type SyncRunResult,
} from './messages';
import type { syncRunWorkflow } from './sync-run';

// Client side only: workflow code never imports this file.

export { SEARCH_ATTRIBUTES };

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
 * is idempotent on the workflow id): what a schedule firing does.
 */
export async function signalSyncNowWithStart(
  client: Client,
  taskQueue: string,
  companyId: string,
  request: SyncNowRequest,
): Promise<{ workflowId: string }> {
  const start = companyWorkflowStart(taskQueue, companyId);
  await client.workflow.signalWithStart<typeof companySyncWorkflow, [SyncNowRequest]>('companySyncWorkflow', {
    ...start,
    signal: syncNowSignal,
    signalArgs: [request],
  });
  return { workflowId: start.workflowId };
}

/**
 * Queues a sync request with the company's workflow, starting it if it is not running
 * (update-with-start), and returns the id the run it becomes will carry: how an operator's
 * request finds its run exactly, whatever else is queued or running.
 */
export async function requestSyncWithStart(
  client: Client,
  taskQueue: string,
  companyId: string,
  request: SyncNowRequest,
): Promise<SyncRequestAccepted & { workflowId: string }> {
  const start = companyWorkflowStart(taskQueue, companyId);
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof companySyncWorkflow>('companySyncWorkflow', {
    ...start,
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const accepted = await client.workflow.executeUpdateWithStart(requestSyncUpdate, {
    args: [request],
    startWorkflowOperation,
  });
  return { ...accepted, workflowId: start.workflowId };
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
