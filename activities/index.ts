import type { AlertActivityDeps } from './alert-context';
import { createApplySyncPlan } from './apply-sync-plan';
import { createCloseAlert } from './close-alert';
import { createDeliverAlert } from './deliver-alert';
import { translatingFailures } from './errors';
import { createFetchLuccaUsers } from './fetch-lucca-users';
import { createFinishSyncRun } from './finish-sync-run';
import { createPlanSync } from './plan-sync';
import { createRaiseRunAlert } from './raise-run-alert';
import { createRequestCompanySync, type RequestCompanySyncDeps } from './request-company-sync';
import type { SyncActivityDeps } from './run-context';
import { createStartSyncRun } from './start-sync-run';
import { createSweepSyncData, type SweepActivityDeps } from './sweep';

export type ActivityDeps = SyncActivityDeps & RequestCompanySyncDeps & SweepActivityDeps & AlertActivityDeps;

/**
 * Every activity of the worker, one a file, built from its dependencies (the composition root,
 * `workers/`, passes them), each throwing only Temporal failures made by the one translator
 * (`toTemporalFailure`). The keys are the names Temporal knows them by, recorded in every
 * history: they never change.
 */
export function createActivities(deps: ActivityDeps) {
  return translatingFailures({
    startSyncRun: createStartSyncRun(deps),
    fetchLuccaUsers: createFetchLuccaUsers(deps),
    planSync: createPlanSync(deps),
    applySyncPlan: createApplySyncPlan(deps),
    finishSyncRun: createFinishSyncRun(deps),
    requestCompanySync: createRequestCompanySync(deps),
    sweepSyncData: createSweepSyncData(deps),
    raiseRunAlert: createRaiseRunAlert(deps),
    deliverAlert: createDeliverAlert(deps),
    closeAlert: createCloseAlert(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
