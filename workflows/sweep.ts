import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SweepResult } from '../activities/sweep';

const { sweepSyncData } = proxyActivities<Activities>({
  // The first sweep after a year of history removes a year of change records: on FerretDB each
  // run costs a scan of `syncChanges`. It heartbeats after each run and resumes where it stopped
  // (what is done is marked), so a retry or the next firing carries on.
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 3 },
});

/**
 * The sweeper (`lucca-sync-sweep:<taskQueue>`), started every hour by the schedule
 * `lucca-sync-sweeper:<taskQueue>` that every worker makes sure exists (`ensureSweepSchedule`):
 * closes runs whose workflow ended without finishing them, drops the working collections runs
 * left behind, and removes change records past their retention. A Temporal Schedule rather than a
 * timer in each worker: one sweep per deployment however many workers run (overlap SKIP), visible
 * and triggerable on the UI's Schedules page, and its result and failures are in Temporal like
 * any run's.
 */
export async function syncSweepWorkflow(): Promise<SweepResult> {
  return sweepSyncData();
}
