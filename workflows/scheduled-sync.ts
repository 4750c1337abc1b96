import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { requestCompanySync } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  // A firing that cannot reach the company workflow for this long is better skipped than piled up:
  // the schedule fires again at the next interval.
  scheduleToCloseTimeout: '30 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

export interface ScheduledSyncInput {
  companyId: string;
  /**
   * `dates`: the firing of the company's date schedule, just after its local midnight (a run from
   * the store alone). Absent: the sync schedule's firing (an incremental run when no full one is due).
   */
  kind?: 'dates';
}

/**
 * Started by the company's Temporal Schedule at each firing (schedules can only start workflows):
 * sends a request with trigger `schedule` to the long-lived company workflow, starting it if
 * needed (`requestCompanySync`: refused for good for a company offboarded, and when its queue is
 * full, so the firing fails where the Temporal UI shows it).
 */
export async function scheduledSyncWorkflow(input: ScheduledSyncInput): Promise<void> {
  await requestCompanySync({ companyId: input.companyId, ...(input.kind ? { kind: input.kind } : {}) });
}
