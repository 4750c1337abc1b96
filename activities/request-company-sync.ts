import type { Client } from '@temporalio/client';
import { signalSyncNowWithStart } from '../workflows/client';
import { requireTemporal } from './errors';

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
    const { client, taskQueue } = requireTemporal(deps.temporal, 'requestCompanySync');
    return signalSyncNowWithStart(client, taskQueue, companyId, { trigger: 'schedule', requestedBy: 'schedule' });
  }

  return { requestCompanySync };
}
