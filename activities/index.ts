import { translatingFailures } from './errors';
import { createRequestCompanySyncActivities, type RequestCompanySyncDeps } from './request-company-sync';
import { createSweepActivities, type SweepActivityDeps } from './sweep';
import { createSyncActivities, type SyncActivityDeps } from './sync-activities';

export type ActivityDeps = SyncActivityDeps & RequestCompanySyncDeps & SweepActivityDeps;

/**
 * Every activity of the worker, built from its dependencies (the composition root passes them),
 * each throwing only Temporal failures made by the one translator (`toTemporalFailure`).
 */
export function createActivities(deps: ActivityDeps) {
  return translatingFailures({
    ...createSyncActivities(deps),
    ...createRequestCompanySyncActivities(deps),
    ...createSweepActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
