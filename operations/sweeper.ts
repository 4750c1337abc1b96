import {
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { syncSweepWorkflow } from '../workflows/sweep';
import { sweepScheduleId, sweepWorkflowId } from '../temporal/ids';
import { createOrUpdateSchedule } from './schedule';

/** How often the sweeper runs: what it removes is at least a day old, or a run closed 15 minutes late. */
export const SWEEP_EVERY = '1h';

export function sweepScheduleOptions(
  taskQueue: string,
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof syncSweepWorkflow>> {
  return {
    scheduleId: sweepScheduleId(taskQueue),
    spec: { intervals: [{ every: SWEEP_EVERY }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'syncSweepWorkflow',
      workflowId: sweepWorkflowId(taskQueue),
      taskQueue,
      args: [],
      staticSummary: 'lucca-sync: sweep of stuck runs, left-over staging and expired change records',
    },
    // A sweep still going when the next firing comes is not doubled; a missed firing is not caught up.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    state: {
      note: `lucca-sync's sweeper, created by its workers. Trigger it to sweep now: temporal schedule trigger --schedule-id ${sweepScheduleId(taskQueue)}`,
    },
  };
}

/**
 * Creates the sweeper's schedule for this task queue, or brings it to the current settings:
 * every worker calls it at start, so a deployment always has exactly one.
 */
export function ensureSweepSchedule(client: Client, taskQueue: string): Promise<'created' | 'updated'> {
  const options = sweepScheduleOptions(taskQueue);
  return createOrUpdateSchedule(client, options, (previous) => ({
    policies: { ...previous.policies, ...options.policies },
  }));
}
