import { createSyncActivities, type SyncActivityDeps } from './sync-activities';

export type ActivityDeps = SyncActivityDeps;

/** Every activity of the worker, built from its dependencies (the composition root passes them). */
export function createActivities(deps: ActivityDeps) {
  return { ...createSyncActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
