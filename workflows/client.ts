import type { Client } from '@temporalio/client';
import type { companySyncWorkflow } from './company-sync';
import { CompanyIdAttribute, companyWorkflowId, syncNowSignal, type SyncNowRequest } from './messages';

/**
 * Delivers `syncNow` to a company's workflow, starting it if it is not running (signal-with-start
 * is idempotent on the workflow id): what an operator's sync and a schedule firing both do.
 * Client side only; workflow code never imports this file.
 */
export async function signalSyncNowWithStart(
  client: Client,
  taskQueue: string,
  companyId: string,
  request: SyncNowRequest,
): Promise<{ workflowId: string }> {
  const workflowId = companyWorkflowId(companyId);
  await client.workflow.signalWithStart<typeof companySyncWorkflow, [SyncNowRequest]>('companySyncWorkflow', {
    workflowId,
    taskQueue,
    args: [{ companyId }],
    signal: syncNowSignal,
    signalArgs: [request],
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
  });
  return { workflowId };
}
