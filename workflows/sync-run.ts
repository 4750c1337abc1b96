import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AppliedResult } from '../activities/apply-sync-plan';
import { failureCode, failureType, isLuccaFailure, type FailureCode, type RunError } from '../domain/failures';
import { blockedPlanError, type GuardOverride } from '../domain/guards';
import { summariseCounts } from '../domain/plan';
import { formatBound, readBoundMs, runBoundMs, STEP_BOUND_MS, workBoundMs } from '../domain/run-bounds';
import { type RunOutcome, type SyncOutcome, type SyncRunInput, type SyncRunResult } from './messages';
import { SyncKindAttribute, SyncOutcomeAttribute } from '../temporal/search-attributes';
import type { RunKind } from '../domain/types';
import {
  cancellationTypeOf,
  OUTCOME_VISIBLE,
  RUN_KINDS,
  START_IN_SCOPE,
  WAIT_FOR_CANCELLED_ACTIVITIES,
} from './compat/sync-run';

type SyncActivities = Pick<
  Activities,
  'startSyncRun' | 'fetchLuccaUsers' | 'planSync' | 'applySyncPlan' | 'finishSyncRun'
>;

/**
 * A run is bounded (`domain/run-bounds.ts`): each activity by a schedule-to-close timeout from the
 * company's size, the whole run by a workflow timer; past either it fails `run-too-long`. A timer
 * rather than the execution timeout, which would end the workflow without running its finish: the
 * timer cancels the run's scope, its activity stops at its next checkpoint, and the run records
 * its failure and drops its working data like a cancelled one. Runs recorded before this change
 * had neither (their activities were bounded by their attempts alone).
 */
const BOUNDED_RUNS = 'bounded-runs';

/** The bounds a run applies; null on runs recorded before they existed. */
interface Bounds {
  readMs: number;
  workMs: (stagedPages: number) => number;
  runMs: number;
}

function boundsOf(input: SyncRunInput): Bounds {
  const t = input.tuning ?? {};
  return {
    readMs: t.readBoundMs ?? readBoundMs(input.expectedUsers),
    workMs: (pages) => t.workBoundMs ?? workBoundMs(pages),
    runMs: t.runBoundMs ?? runBoundMs(input.expectedUsers),
  };
}

function activities(input: SyncRunInput, waitForCancelled: boolean, bounds: Bounds | null) {
  const t = input.tuning ?? {};
  const cancellationType = cancellationTypeOf(waitForCancelled);
  const retry = {
    initialInterval: t.retryInitialIntervalMs ?? 2_000,
    backoffCoefficient: 2,
    // Never below the first interval: Temporal refuses such a policy, and every workflow task fails.
    maximumInterval: Math.max(t.retryMaximumIntervalMs ?? 60_000, t.retryInitialIntervalMs ?? 2_000),
  };
  const heartbeatTimeout = t.heartbeatTimeoutMs ?? 60_000;
  const db = proxyActivities<SyncActivities>({
    // Single writes: a worker killed inside one should cost the run seconds, not minutes.
    startToCloseTimeout: '30 seconds',
    ...(bounds ? { scheduleToCloseTimeout: STEP_BOUND_MS } : {}),
    retry: { ...retry, maximumAttempts: 20 },
  });
  const read = proxyActivities<SyncActivities>({
    // A 100,000-employee company is 100 pages: over a minute and a half under Lucca's limit.
    startToCloseTimeout: '2 hours',
    ...(bounds ? { scheduleToCloseTimeout: bounds.readMs } : {}),
    heartbeatTimeout,
    cancellationType,
    retry: {
      ...retry,
      maximumAttempts: t.readMaximumAttempts ?? 10,
      nonRetryableErrorTypes: (['lucca-auth', 'lucca-request', 'lucca-not-lucca'] as const).map(failureType),
    },
  });
  /** The plan's and the apply's activities, bounded by the pages the read staged. */
  const work = (stagedPages: number) =>
    proxyActivities<SyncActivities>({
      startToCloseTimeout: '2 hours',
      ...(bounds ? { scheduleToCloseTimeout: bounds.workMs(stagedPages) } : {}),
      heartbeatTimeout,
      cancellationType,
      retry: { ...retry, maximumAttempts: 20 },
    });
  return { db, read, work };
}

/**
 * One sync run of one company: read Lucca into staging, plan, guard, apply, report. Employee
 * data moves between activities through MongoDB only; this workflow sees ids and counts.
 */
export async function syncRunWorkflow(input: SyncRunInput): Promise<SyncRunResult> {
  const bounds = patched(BOUNDED_RUNS) ? boundsOf(input) : null;
  if (!bounds) return runOnce(input, null, () => false);
  const run = new CancellationScope();
  let overran = false;
  // Outside the run's scope, which it cancels; cancelled itself only with the workflow (offboarding).
  void sleep(bounds.runMs).then(
    () => {
      overran = true;
      run.cancel();
    },
    () => undefined,
  );
  return run.run(() => runOnce(input, bounds, () => overran));
}

/** The run itself; `overran` says whether a cancellation is the run's bound rather than offboarding. */
async function runOnce(input: SyncRunInput, bounds: Bounds | null, overran: () => boolean): Promise<SyncRunResult> {
  const { companyId, runId } = input;
  // Decoded once: the blocked run this one applies anyway, if any. Inputs of earlier versions also
  // carry a bare `allowMassDeactivation` and reviewed counts, which lift nothing.
  const override: GuardOverride | null = input.override ? { blockedRunId: input.override.blockedRunId } : null;
  const waitForCancelled = patched(WAIT_FOR_CANCELLED_ACTIVITIES);
  const { db, read, work } = activities(input, waitForCancelled, bounds);
  /** Why the run's scope was cancelled: its bound, or the company's offboarding. */
  const stopped = (when: string): RunError => (overran() ? runTooLong(input, bounds!, when) : cancelled(when));
  const mode = input.dryRun ? 'dry-run' : 'apply';
  // What the run reads, said to its start and its read; runs recorded before kinds read in full.
  const kinds = patched(RUN_KINDS);
  const asked: RunKind = input.kind ?? 'full';
  let kind: RunKind | undefined = kinds ? asked : undefined;
  const kindInput = kinds
    ? {
        kind: asked,
        ...(asked === 'one-user' && input.luccaUserId !== undefined ? { luccaUserId: input.luccaUserId } : {}),
      }
    : {};
  setCurrentDetails(`${companyId}: ${kinds && asked === 'dates' ? 'rolling dates' : 'reading Lucca'}`);

  let started = false;
  const startRun = async () => {
    await db.startSyncRun({
      companyId,
      runId,
      trigger: input.trigger,
      requestedBy: input.requestedBy,
      dryRun: input.dryRun,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      ...(override ? { overrideOf: override.blockedRunId } : {}),
      ...kindInput,
    });
    started = true;
  };
  const startInScope = patched(START_IN_SCOPE);
  if (!startInScope) await startRun();

  /**
   * Records how the run ended and drops its working data. A cancelled run (offboarding) does too:
   * its activities have stopped (they are awaited until they acknowledge the cancellation), then
   * the finish runs out of the cancellation's reach, and the workflow ends cancelled (`failure`).
   * A failed run then fails its workflow, carrying its result (ids, counts, the failure's code and
   * the operator's next step): the company workflow reads it from there and goes on.
   */
  const finish = async (
    status: RunOutcome,
    rest: Pick<SyncRunResult, 'counts' | 'error' | 'profileWrites'>,
    summary: string,
    failure?: unknown,
  ): Promise<SyncRunResult> => {
    await CancellationScope.nonCancellable(async () => {
      // Cancelled before its start was recorded (or while it was): recorded now, so that the run
      // document exists and ends here instead of being left to the sweeper. The start is an upsert.
      if (!started) await startRun();
      await db.finishSyncRun({ companyId, runId, status, error: rest.error, profileWrites: rest.profileWrites });
    });
    setCurrentDetails(summary);
    log.info('Sync run finished', { companyId, runId, status, profileWrites: rest.profileWrites });
    const wasCancelled = failure instanceof Error && isCancellation(failure) && !overran();
    const result: SyncRunResult = {
      runId,
      status,
      mode,
      ...rest,
      summary,
      ...(input.requestId ? { requestId: input.requestId } : {}),
      ...(kind ? { kind } : {}),
    };
    if (!patched(OUTCOME_VISIBLE)) {
      if (wasCancelled) throw failure;
      return result;
    }
    upsertSearchAttributes([{ key: SyncOutcomeAttribute, value: outcomeOf(result, wasCancelled) }]);
    if (wasCancelled) throw failure;
    if (status === 'failed' && rest.error) {
      throw ApplicationFailure.create({
        type: failureType(rest.error.code as FailureCode),
        message: `${summary}: ${rest.error.message}`,
        nonRetryable: true,
        details: [result],
      });
    }
    return result;
  };

  let readResult: Awaited<ReturnType<SyncActivities['fetchLuccaUsers']>>;
  try {
    if (startInScope) await startRun();
    readResult = await read.fetchLuccaUsers({ companyId, runId, ...kindInput });
  } catch (err) {
    // A start that failed for good (the store kept failing) fails the workflow, as it always did.
    if (!started && !isCancellation(err)) throw err;
    const error = isCancellation(err)
      ? stopped(started ? 'while reading Lucca; no profile was written' : 'as it started; no profile was written')
      : (boundExceeded(err, input, 'Reading Lucca', bounds?.readMs, 'no profile was written') ?? describeFailure(err));
    return finish('failed', { counts: null, error, profileWrites: 0 }, `${companyId}: failed (${error.code})`, err);
  }

  if (kinds) {
    // An incremental run may have read everyone (a full read was due, or Lucca ignored the filter).
    kind = readResult.kind ?? asked;
    upsertSearchAttributes([{ key: SyncKindAttribute, value: kind }]);
  }

  // The read plans as it goes; a history from before that has a separate planning activity, which
  // replays as it ran (see `compat/sync-run.ts`).
  let plan = readResult.plan;
  const workBound = bounds?.workMs(readResult.pagesRead);
  if (!plan) {
    setCurrentDetails(`${companyId}: planning`);
    try {
      plan = await work(readResult.pagesRead).planSync({
        companyId,
        runId,
        detectRemovals: readResult.removalsSafe,
      });
    } catch (err) {
      const error = isCancellation(err)
        ? stopped('while planning; no profile was written')
        : (boundExceeded(err, input, 'Planning', workBound, 'no profile was written') ??
          storageFailure(err, 'Planning failed; no profile was written.'));
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
    const applied: AppliedResult =
      plan.writes > 0 ? await work(readResult.pagesRead).applySyncPlan({ companyId, runId }) : { profileWrites: 0 };
    // The counts as the store acknowledged them (a refused write is a conflict); histories recorded
    // before the apply returned them carry none, and replay with the plan's.
    const counts = applied.counts ?? plan.counts;
    return finish(
      'succeeded',
      { counts, error: null, profileWrites: applied.profileWrites },
      summariseCounts(companyId, counts),
    );
  } catch (err) {
    // Each write is idempotent and the next run re-plans from the profiles as they are, so a
    // partly applied plan converges at the next run instead of being rolled back.
    const error = isCancellation(err)
      ? stopped('while applying its plan; part of it may be applied')
      : (boundExceeded(
          err,
          input,
          'Applying the plan',
          workBound,
          'part of it may be applied; the next run completes it',
        ) ??
        storageFailure(
          err,
          'Applying the plan stopped after repeated storage errors; part of it may be applied. The next run completes it.',
        ));
    return finish(
      'failed',
      { counts: plan.counts, error, profileWrites: 0 },
      `${companyId}: failed (${error.code})`,
      err,
    );
  }
}

function outcomeOf(result: SyncRunResult, cancelled: boolean): SyncOutcome {
  if (cancelled) return 'cancelled';
  if (result.status === 'succeeded' && result.mode === 'dry-run') return 'dry-run';
  return result.status;
}

/** A run cancelled in Temporal: offboarding cancels the company's workflow, and so its run. */
function cancelled(when: string): RunError {
  return {
    code: 'cancelled',
    message: `The run was cancelled ${when} (the company was offboarded, or its workflow was cancelled in Temporal); its working data was removed.`,
  };
}

/** The company's size the bounds were derived from, as an operator reads it. */
function sizeOf(input: SyncRunInput): string {
  return input.expectedUsers === undefined
    ? 'of a size not known yet (its first run)'
    : `of ${input.expectedUsers} users at its last run`;
}

/** The run's bound (its workflow timer) was reached: the run was stopped `when`. */
function runTooLong(input: SyncRunInput, bounds: Bounds, when: string): RunError {
  return {
    code: 'run-too-long',
    message:
      `The run took longer than its bound of ${formatBound(bounds.runMs)} (set from the size of a company ` +
      `${sizeOf(input)} and Lucca's rate limit) and was stopped ${when}; its working data was removed. ` +
      `Check how fast Lucca and MongoDB answer; the next run tries again.`,
  };
}

/**
 * An activity that ran past its schedule-to-close bound (every attempt included) fails with a
 * timeout of that type; null for any other failure.
 */
function boundExceeded(
  err: unknown,
  input: SyncRunInput,
  step: string,
  boundMs: number | undefined,
  written: string,
): RunError | null {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (boundMs === undefined || !(cause instanceof TimeoutFailure) || cause.timeoutType !== 'SCHEDULE_TO_CLOSE') {
    return null;
  }
  return {
    code: 'run-too-long',
    message:
      `${step} took longer than its bound of ${formatBound(boundMs)}, every attempt included (set from the size of ` +
      `a company ${sizeOf(input)} and Lucca's rate limit); ${written}. Check how fast Lucca and MongoDB answer; ` +
      `the next run tries again.`,
  };
}

function storageFailure(err: unknown, what: string): RunError {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const detail = cause instanceof Error ? cause.message : 'unknown error';
  // The apply stopped on purpose: its sentence says what was written and what to do.
  if (cause instanceof ApplicationFailure && failureCode(cause.type) === 'connection-changed') {
    return { code: 'connection-changed', message: cause.message };
  }
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
