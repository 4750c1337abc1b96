import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { companySyncWorkflow } from '../workflows/company-sync';
import { CompanyIdAttribute, companyWorkflowId, syncNowSignal, type SyncNowRequest } from '../workflows/messages';
import { FailureType } from '../domain/failures';

export interface RequestCompanySyncDeps {
  /** Needed only by the schedule's activity: it signals the company workflow through the client. */
  temporal?: { client: Client; taskQueue: string };
}

export interface RequestCompanySyncInput {
  companyId: string;
}

/**
 * What a schedule firing does: a Temporal Schedule can only start workflows, so its tiny workflow
 * calls this activity, which delivers `syncNow` (trigger `schedule`) to the company workflow and
 * starts that workflow if it is not running (signal-with-start is idempotent on the workflow id).
 */
export function createRequestCompanySyncActivities(deps: RequestCompanySyncDeps) {
  async function requestCompanySync({ companyId }: RequestCompanySyncInput): Promise<{ workflowId: string }> {
    if (!deps.temporal) {
      throw ApplicationFailure.create({
        type: FailureType.config,
        message:
          'requestCompanySync needs a Temporal client: the worker was built without `temporal` in its activity dependencies.',
        nonRetryable: true,
      });
    }
    const { client, taskQueue } = deps.temporal;
    const workflowId = companyWorkflowId(companyId);
    await client.workflow.signalWithStart<typeof companySyncWorkflow, [SyncNowRequest]>('companySyncWorkflow', {
      workflowId,
      taskQueue,
      args: [{ companyId }],
      signal: syncNowSignal,
      signalArgs: [{ trigger: 'schedule', requestedBy: 'schedule' }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
    return { workflowId };
  }

  return { requestCompanySync };
}
