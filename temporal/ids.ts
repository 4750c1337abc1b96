// Names here are part of the contract: the CLI, the console and operators rely on them. Pure and
// deterministic, so workflow code imports them as well as the clients do.

/** The task queue's default name (`TASK_QUEUE` in the environment overrides it). */
export const TASK_QUEUE = 'lucca-sync';
export const companyWorkflowId = (companyId: string) => `company-sync:${companyId}`;
export const scheduleId = (companyId: string) => `company-sync-schedule:${companyId}`;
/** The company's date schedule: a `dates` run just after each local midnight (see `companyDatesScheduleOptions`). */
export const datesScheduleId = (companyId: string) => `company-dates-schedule:${companyId}`;
export const syncRunWorkflowId = (companyId: string, runId: string) => `sync-run:${companyId}:${runId}`;

/**
 * A run's id: when it started (UTC, to the second) and a random suffix, sortable and readable in
 * the UI, e.g. `20261122-174501-1a2b3c4d`.
 */
export function runIdAt(startedAt: Date, suffix: string): string {
  const iso = startedAt.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${suffix}`;
}

/** When a run whose id `runIdAt` made started (ms since the epoch); null for any other id. */
export function runIdStartedAt(runId: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-/.exec(runId);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** The sweeper's schedule and workflow, one per task queue (a deployment): see `workflows/sweep.ts`. */
export const sweepScheduleId = (taskQueue: string) => `lucca-sync-sweeper:${taskQueue}`;
export const sweepWorkflowId = (taskQueue: string) => `lucca-sync-sweep:${taskQueue}`;

/** A run's alert workflow (see `workflows/alert.ts`): one per run, so a run never alerts twice. */
export const runAlertWorkflowId = (companyId: string, runId: string) => `run-alert:${companyId}:${runId}`;
/** An operator's test alert. */
export const testAlertWorkflowId = (companyId: string, alertId: string) => `alert:${companyId}:${alertId}`;
