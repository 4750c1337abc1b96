import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { createSyncActivities } from '../activities/sync-activities';
import { blockedPlanError, failureCode, failureType, isLuccaFailure, type RunError } from '../domain/failures';
import { summariseCounts } from '../domain/plan';
import type { RunOutcome, SyncRunInput, SyncRunResult } from './messages';

type SyncActivities = ReturnType<typeof createSyncActivities>;

function activities(input: SyncRunInput) {
  const t = input.tuning ?? {};
  const retry = {
    initialInterval: t.retryInitialIntervalMs ?? 2_000,
    backoffCoefficient: 2,
    maximumInterval: t.retryMaximumIntervalMs ?? 60_000,
  };
  const heartbeatTimeout = t.heartbeatTimeoutMs ?? 60_000;
  const db = proxyActivities<SyncActivities>({
    // Single writes: a worker killed inside one should cost the run seconds, not minutes.
    startToCloseTimeout: '30 seconds',
    retry: { ...retry, maximumAttempts: 20 },
  });
  const read = proxyActivities<SyncActivities>({
    // A 100,000-employee company is 100 pages: over a minute and a half under Lucca's limit.
    startToCloseTimeout: '2 hours',
    heartbeatTimeout,
    retry: {
      ...retry,
      maximumAttempts: t.readMaximumAttempts ?? 10,
      nonRetryableErrorTypes: (['lucca-auth', 'lucca-request', 'lucca-not-lucca'] as const).map(failureType),
    },
  });
  const work = proxyActivities<SyncActivities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 20 },
  });
  return { db, read, work };
}

/**
 * One sync run of one company: read Lucca into staging, plan, guard, apply, report. Employee
 * data moves between activities through MongoDB only; this workflow sees ids and counts.
 */
export async function syncRunWorkflow(input: SyncRunInput): Promise<SyncRunResult> {
  const { companyId, runId } = input;
  const { db, read, work } = activities(input);
  const mode = input.dryRun ? 'dry-run' : 'apply';
  setCurrentDetails(`${companyId}: reading Lucca`);

  await db.startSyncRun({
    companyId,
    runId,
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    dryRun: input.dryRun,
    allowMassDeactivation: input.allowMassDeactivation,
  });

  /**
   * Records how the run ended and drops its working data. A cancelled run (offboarding) does too:
   * its activities have stopped (they are awaited until they acknowledge the cancellation), then
   * the finish runs out of the cancellation's reach, and the workflow ends cancelled (`failure`).
   */
  const finish = async (
    status: RunOutcome,
    rest: Pick<SyncRunResult, 'counts' | 'error' | 'profileWrites'>,
    summary: string,
    failure?: unknown,
  ): Promise<SyncRunResult> => {
    await CancellationScope.nonCancellable(() =>
      db.finishSyncRun({ companyId, runId, status, error: rest.error, profileWrites: rest.profileWrites }),
    );
    setCurrentDetails(summary);
    log.info('Sync run finished', { companyId, runId, status, profileWrites: rest.profileWrites });
    if (failure instanceof Error && isCancellation(failure)) throw failure;
    return { runId, status, mode, ...rest, summary };
  };

  let readResult: Awaited<ReturnType<SyncActivities['fetchLuccaUsers']>>;
  try {
    readResult = await read.fetchLuccaUsers({
      companyId,
      runId,
      allowMassDeactivation: input.allowMassDeactivation,
    });
  } catch (err) {
    const error = isCancellation(err) ? cancelled('while reading Lucca; no profile was written') : describeFailure(err);
    return finish('failed', { counts: null, error, profileWrites: 0 }, `${companyId}: failed (${error.code})`, err);
  }

  // The read plans as it goes; a history from before that has a separate planning activity, which
  // replays as it ran.
  let plan = readResult.plan;
  if (!plan) {
    setCurrentDetails(`${companyId}: planning`);
    try {
      plan = await work.planSync({
        companyId,
        runId,
        allowMassDeactivation: input.allowMassDeactivation,
        detectRemovals: readResult.removalsSafe,
      });
    } catch (err) {
      const error = isCancellation(err)
        ? cancelled('while planning; no profile was written')
        : storageFailure(err, 'Planning failed; no profile was written.');
      return finish('failed', { counts: null, error, profileWrites: 0 }, `${companyId}: failed (${error.code})`, err);
    }
  }
  const summary = summariseCounts(companyId, plan.counts);

  if (plan.blocked) {
    const error = blockedPlanError(plan);
    return finish('blocked', { counts: plan.counts, error, profileWrites: 0 }, `${summary} (blocked)`);
  }
  if (input.dryRun) {
    return finish('succeeded', { counts: plan.counts, error: null, profileWrites: 0 }, `${summary} (dry run)`);
  }

  setCurrentDetails(`${companyId}: applying`);
  try {
    const applied = plan.writes > 0 ? await work.applySyncPlan({ companyId, runId }) : { profileWrites: 0 };
    return finish('succeeded', { counts: plan.counts, error: null, profileWrites: applied.profileWrites }, summary);
  } catch (err) {
    // Each write is idempotent and the next run re-plans from the profiles as they are, so a
    // partly applied plan converges at the next run instead of being rolled back.
    const error = isCancellation(err)
      ? cancelled('while applying its plan; part of it may be applied')
      : storageFailure(
          err,
          'Applying the plan stopped after repeated storage errors; part of it may be applied. The next run completes it.',
        );
    return finish(
      'failed',
      { counts: plan.counts, error, profileWrites: 0 },
      `${companyId}: failed (${error.code})`,
      err,
    );
  }
}

/** A run cancelled in Temporal: offboarding cancels the company's workflow, and so its run. */
function cancelled(when: string): RunError {
  return {
    code: 'cancelled',
    message: `The run was cancelled ${when} (the company was offboarded, or its workflow was cancelled in Temporal); its working data was removed.`,
  };
}

function storageFailure(err: unknown, what: string): RunError {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const detail = cause instanceof Error ? cause.message : 'unknown error';
  const stalled = cause instanceof ApplicationFailure && failureCode(cause.type) === 'stalled';
  return { code: stalled ? 'stalled' : 'storage', message: `${what} (${detail})` };
}

/** A failed read-and-plan: Lucca's own verdict when Lucca failed, a storage failure otherwise. */
function describeFailure(err: unknown): RunError {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) {
    return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
  }
  const code = failureCode(cause.type);
  if (isLuccaFailure(code)) {
    // Retryable failures reach here only once retries are exhausted: the read is incomplete.
    const message = cause.nonRetryable
      ? cause.message
      : `Lucca could not be read completely after repeated attempts (${cause.message}). Nothing was changed; the next run will try again.`;
    return { code, message };
  }
  if (cause.nonRetryable) return { code: code ?? 'internal', message: cause.message };
  return storageFailure(err, 'Reading and planning stopped after repeated errors; no profile was written.');
}
