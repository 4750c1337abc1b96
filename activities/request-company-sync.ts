import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { signalSyncNowWithStart } from '../workflows/client';
import { failureType } from '../domain/failures';

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
        type: failureType('configuration'),
        message:
          'requestCompanySync needs a Temporal client: the worker was built without `temporal` in its activity dependencies.',
        nonRetryable: true,
      });
    }
    const { client, taskQueue } = deps.temporal;
    return signalSyncNowWithStart(client, taskQueue, companyId, { trigger: 'schedule', requestedBy: 'schedule' });
  }

  return { requestCompanySync };
}
