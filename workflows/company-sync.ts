import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  CompanyIdAttribute,
  runIdAt,
  statusQuery,
  syncNowSignal,
  syncRunWorkflowId,
  SyncTriggerAttribute,
  type CompanySyncInput,
  type CompanySyncStatus,
  type SyncNowRequest,
  type SyncRunResult,
} from './messages';
import { syncRunWorkflow } from './sync-run';

/** Continue-as-new well before the history grows large; a run costs about ten events here. */
const MAX_RUNS_PER_EXECUTION = 100;
const MAX_REQUESTED_BY_LENGTH = 200;

/**
 * The long-lived workflow of one company (`company-sync:<companyId>`). It owns the queue of
 * sync requests: runs them one at a time as child workflows, folds requests that arrive during a
 * run into one follow-up run, answers `status`, and continues as new to keep its history small.
 */
export async function companySyncWorkflow(input: CompanySyncInput): Promise<void> {
  const { companyId, tuning } = input;
  const maxRuns = input.maxRunsPerExecution ?? MAX_RUNS_PER_EXECUTION;
  const pending: SyncNowRequest[] = [...(input.pending ?? [])];
  let lastRun = input.lastRun ?? null;
  let current: CompanySyncStatus['current'] = null;
  let runs = 0;

  upsertSearchAttributes([{ key: CompanyIdAttribute, value: companyId }]);

  setHandler(syncNowSignal, (request) => {
    pending.push(sanitise(request));
  });
  setHandler(statusQuery, () => ({ companyId, current, pending, lastRun, runsSinceContinueAsNew: runs }));

  for (;;) {
    await condition(() => pending.length > 0 || runs >= maxRuns || workflowInfo().continueAsNewSuggested);
    if (runs >= maxRuns || workflowInfo().continueAsNewSuggested) break;

    const request = takeCoalesced(pending);
    const runId = newRunId();
    const trigger = request.trigger ?? 'manual';
    current = { runId, trigger, dryRun: request.dryRun ?? false, startedAt: new Date().toISOString() };
    let result: SyncRunResult;
    try {
      result = await executeChild(syncRunWorkflow, {
        workflowId: syncRunWorkflowId(companyId, runId),
        args: [
          {
            companyId,
            runId,
            trigger,
            requestedBy: request.requestedBy ?? null,
            dryRun: request.dryRun ?? false,
            allowMassDeactivation: request.allowMassDeactivation ?? false,
            ...(tuning ? { tuning } : {}),
          },
        ],
        typedSearchAttributes: [
          { key: CompanyIdAttribute, value: companyId },
          { key: SyncTriggerAttribute, value: trigger },
        ],
        staticSummary: `${companyId}: ${trigger} sync${request.dryRun ? ' (dry run)' : ''}`,
      });
    } catch (err) {
      // Offboarding cancels this workflow: the child is cancelled with it and awaited (it records
      // its run as cancelled and drops its working data), then this workflow ends cancelled. A run
      // cancelled on its own (from the UI) is just a run that did not complete.
      if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
      // The run workflow reports its own failures; reaching here means it was terminated or
      // timed out. The company workflow stays up for the next request either way.
      log.warn('Sync run did not complete', {
        companyId,
        runId,
        error: err instanceof Error ? err.message : 'unknown',
      });
      result = {
        runId,
        status: 'failed',
        mode: request.dryRun ? 'dry-run' : 'apply',
        counts: null,
        profileWrites: 0,
        error: { code: 'internal', message: 'The sync run workflow did not complete; see it in the Temporal UI.' },
        summary: `${companyId}: failed`,
      };
    }
    lastRun = { ...result, finishedAt: new Date().toISOString() };
    current = null;
    runs++;
  }

  await condition(allHandlersFinished);
  await continueAsNew<typeof companySyncWorkflow>({
    companyId,
    pending,
    lastRun,
    ...(tuning ? { tuning } : {}),
    ...(input.maxRunsPerExecution ? { maxRunsPerExecution: input.maxRunsPerExecution } : {}),
  });
}

/** Requests asking for the same kind of run fold into the first; the others wait their turn. */
function takeCoalesced(pending: SyncNowRequest[]): SyncNowRequest {
  const first = pending[0]!;
  const sameKind = (r: SyncNowRequest) =>
    (r.dryRun ?? false) === (first.dryRun ?? false) &&
    (r.allowMassDeactivation ?? false) === (first.allowMassDeactivation ?? false);
  const folded = pending.filter(sameKind);
  const rest = pending.filter((r) => !sameKind(r));
  pending.splice(0, pending.length, ...rest);
  const requesters = [...new Set(folded.map((r) => r.requestedBy).filter((r): r is string => !!r))];
  return {
    ...first,
    ...(requesters.length ? { requestedBy: requesters.join(', ').slice(0, MAX_REQUESTED_BY_LENGTH) } : {}),
  };
}

function sanitise(request: SyncNowRequest | undefined): SyncNowRequest {
  const r = request ?? {};
  const trigger = r.trigger === 'schedule' || r.trigger === 'onboarding' ? r.trigger : 'manual';
  return {
    trigger,
    dryRun: r.dryRun === true,
    allowMassDeactivation: r.allowMassDeactivation === true,
    ...(typeof r.requestedBy === 'string' && r.requestedBy.trim()
      ? { requestedBy: r.requestedBy.trim().slice(0, MAX_REQUESTED_BY_LENGTH) }
      : {}),
  };
}

/** See `runIdAt` (workflow time and uuid4 are deterministic). */
function newRunId(): string {
  return runIdAt(new Date(), uuid4().slice(0, 8));
}
