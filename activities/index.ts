import { createRequestCompanySyncActivities, type RequestCompanySyncDeps } from './request-company-sync';
import { createSyncActivities, type SyncActivityDeps } from './sync-activities';

export type ActivityDeps = SyncActivityDeps & RequestCompanySyncDeps;

/** Every activity of the worker, built from its dependencies (the composition root passes them). */
export function createActivities(deps: ActivityDeps) {
  return { ...createSyncActivities(deps), ...createRequestCompanySyncActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
