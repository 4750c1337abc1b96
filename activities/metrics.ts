import type { MetricMeter } from '@temporalio/common';
import type { SyncRunDocument, SyncRunStatus } from '../db/sync-runs-repository';
import type { RunError } from '../domain/failures';
import { firedGuards, guardCode } from '../domain/guards';
import type { SyncCounts } from '../domain/types';
import type { LuccaRequestOutcome } from '../lucca/client';

/**
 * The sync's own metrics, emitted through the activity's Temporal metric meter so that they are
 * exported with the SDK's (on the worker's Prometheus endpoint, `WORKER_METRICS_ADDRESS`); without
 * an exporter the meter does nothing. The SDK tags them with `namespace`, `taskQueue` and
 * `activityType`.
 *
 * Labels are small fixed vocabularies (outcomes, triggers, actions, failure and guard codes): no
 * company id, since thousands of companies times every label and histogram bucket would make
 * thousands of series per metric, and a company's runs are in `syncRuns` and in the Temporal UI
 * (`CompanyId="…"`) already. No personal data, no key.
 */
export const SYNC_METRICS = {
  /** Finished runs, by `outcome` (succeeded, failed, blocked, dry-run) and `trigger`. */
  runs: 'lucca_sync_runs',
  /** Seconds from a run's start to its finish, by `outcome`. */
  runDuration: 'lucca_sync_run_duration_seconds',
  /** Failed runs by failure `code` (`lucca-auth`, `storage`, `stalled`…). */
  runFailures: 'lucca_sync_run_failures',
  /** Guards that held a plan back, by `guard` code (`mass-deactivation`…): a blocked run counts each one that fired. */
  guardBlocks: 'lucca_sync_guard_blocks',
  /** Profiles changed by applied runs, by `action` (created, linked, updated, deactivated, reactivated). */
  profilesWritten: 'lucca_sync_profiles_written',
  /** HTTP requests to Lucca, by `outcome`: `ok`, a failure code (`lucca-rate-limited` is a 429), or `aborted`. */
  luccaRequests: 'lucca_sync_lucca_requests',
} as const;

/** Runs last from seconds (a small company) to hours (100,000 employees under Lucca's rate limit). */
export const RUN_DURATION_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export type RunOutcomeLabel = Exclude<SyncRunStatus, 'running'> | 'dry-run';

const WRITTEN_ACTIONS = [
  'created',
  'linked',
  'updated',
  'deactivated',
  'reactivated',
] as const satisfies readonly (keyof SyncCounts)[];

export interface FinishedRun {
  /** The run as it was before its finish was recorded. */
  run: Pick<SyncRunDocument, 'mode' | 'trigger' | 'startedAt' | 'counts' | 'guard'>;
  status: Exclude<SyncRunStatus, 'running'>;
  error: RunError | null;
  finishedAt: Date;
}

/** Counts one finished run: its outcome and duration, what it wrote, or why it failed or was blocked. */
export function recordFinishedRun(meter: MetricMeter, { run, status, error, finishedAt }: FinishedRun): void {
  const outcome: RunOutcomeLabel = status === 'succeeded' && run.mode === 'dry-run' ? 'dry-run' : status;
  meter.createCounter(SYNC_METRICS.runs, 'runs', 'Finished sync runs').add(1, { outcome, trigger: run.trigger });
  meter
    .createHistogram(SYNC_METRICS.runDuration, 'float', 's', 'Duration of sync runs')
    .record(Math.max(0, (finishedAt.getTime() - run.startedAt.getTime()) / 1000), { outcome });
  if (outcome === 'succeeded' && run.counts) {
    const written = meter.createCounter(SYNC_METRICS.profilesWritten, 'profiles', 'Profiles changed by applied runs');
    for (const action of WRITTEN_ACTIONS) written.add(run.counts[action], { action });
  }
  if (status === 'failed') {
    meter
      .createCounter(SYNC_METRICS.runFailures, 'runs', 'Failed sync runs')
      .add(1, { code: error?.code ?? 'internal' });
  }
  if (status === 'blocked') {
    const blocks = meter.createCounter(SYNC_METRICS.guardBlocks, 'guards', 'Guards that blocked a run');
    const fired = run.guard ? firedGuards(run.guard).map((hit) => guardCode(hit.guard)) : [];
    for (const guard of fired.length > 0 ? fired : [error?.code ?? guardCode('deactivate')]) blocks.add(1, { guard });
  }
}

/** What the Lucca client calls after each request, counting it. */
export function luccaRequestCounter(meter: MetricMeter): (outcome: LuccaRequestOutcome) => void {
  const requests = meter.createCounter(SYNC_METRICS.luccaRequests, 'requests', 'HTTP requests to Lucca');
  return (outcome) => requests.add(1, { outcome });
}
