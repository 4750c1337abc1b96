import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  failedRunResult,
  requestSyncUpdate,
  statusQuery,
  syncNowSignal,
  type CompanySyncInput,
  type CompanySyncStatus,
  type PendingSync,
  type RememberedRequest,
  type SyncNowRequest,
  type SyncRunResult,
} from './messages';
import { runAlertWorkflowId, runIdAt, syncRunWorkflowId } from '../temporal/ids';
import { CompanyIdAttribute, SyncKindAttribute, SyncTriggerAttribute } from '../temporal/search-attributes';
import { failureType } from '../domain/failures';
import { isRunKind } from '../domain/types';
import { syncRunWorkflow } from './sync-run';
import { runAlertWorkflow } from './alert';
import { ALERT_AFTER_RUN, OVERRIDES_NAME_THEIR_RUN, REMEMBER_REQUEST_KEYS, RUN_KINDS } from './compat/company-sync';

/** Continue-as-new well before the history grows large; a run costs about ten events here. */
const MAX_RUNS_PER_EXECUTION = 100;
const MAX_REQUESTED_BY_LENGTH = 200;
/**
 * Requests fold into the entry of their kind as they arrive, so the queue holds one entry per kind
 * (run or dry run, each override): a flood of requests cannot grow it, nor the continue-as-new
 * input. Past this many kinds waiting at once, `requestSync` is refused and `syncNow` dropped.
 */
export const MAX_PENDING_KINDS = 10;

/**
 * How many request keys are remembered (the latest; carried across continue-as-new). A retry comes
 * within seconds or minutes of its first try, and a company sees a few requests a day.
 */
export const MAX_REMEMBERED_REQUESTS = 100;
const MAX_REQUEST_KEY_LENGTH = 100;

/**
 * The long-lived workflow of one company (`company-sync:<companyId>`). It owns the queue of
 * sync requests: runs them one at a time as child workflows, folds requests that arrive during a
 * run into one follow-up run, answers `status`, and continues as new to keep its history small.
 */
export async function companySyncWorkflow(input: CompanySyncInput): Promise<void> {
  const { companyId, tuning } = input;
  const maxRuns = input.maxRunsPerExecution ?? MAX_RUNS_PER_EXECUTION;
  let requestSeq = 0;
  // Unique within this execution and across them (the execution's run id), and deterministic: no
  // randomness is consumed, so run ids stay what recorded histories hold.
  const newRequestId = () => `${workflowInfo().runId.slice(0, 8)}-${++requestSeq}`;
  const pending: PendingSync[] = [];
  const keyed = patched(REMEMBER_REQUEST_KEYS);
  const kinds = patched(RUN_KINDS);
  /** Users the last full read saw: what a run's bounds come from (see `CompanySyncInput.knownUsers`). */
  let knownUsers = kinds ? (input.knownUsers ?? input.lastRun?.counts?.seen) : undefined;
  const remembered: RememberedRequest[] = keyed ? (input.requests ?? []).slice(-MAX_REMEMBERED_REQUESTS) : [];
  const keyOf = (request: SyncNowRequest | undefined) => (keyed ? requestKeyOf(request) : null);
  const knownRequest = (request: SyncNowRequest | undefined): RememberedRequest | null => {
    const key = keyOf(request);
    return key === null ? null : (remembered.find((r) => r.key === key) ?? null);
  };
  const enqueue = (request: SyncNowRequest, requestId?: string, requests = 1): PendingSync | null => {
    const same = pending.find((p) => kindOf(p) === kindOf(request));
    if (same) {
      same.requests += requests;
      same.requestedBy = joinRequesters(same.requestedBy, request.requestedBy);
      return same;
    }
    if (pending.length >= MAX_PENDING_KINDS) return null;
    const entry: PendingSync = { ...request, requestId: requestId ?? newRequestId(), requests };
    pending.push(entry);
    return entry;
  };
  for (const carried of input.pending ?? []) {
    const request = sanitise(carried, patched(OVERRIDES_NAME_THEIR_RUN), kinds);
    if (request) enqueue(request, carried.requestId, carried.requests ?? 1);
  }
  let lastRun = input.lastRun ?? null;
  let current: CompanySyncStatus['current'] = null;
  let runs = 0;
  const describeLastRun = () => {
    if (lastRun) setCurrentDetails(`Last run ${lastRun.runId}: ${lastRun.status} (${lastRun.summary})`);
  };
  describeLastRun();
  /** Queues a request, or finds the one its key already joined: the id of its request, or null when the queue is full. */
  const receive = (request: SyncNowRequest | undefined): string | null => {
    const known = knownRequest(request);
    if (known) return known.requestId;
    const sane = sanitise(request, patched(OVERRIDES_NAME_THEIR_RUN), kinds);
    // A one-user request without a usable Lucca id (the update's validator refuses it first).
    if (!sane) return null;
    const entry = enqueue(sane);
    if (!entry) return null;
    const key = keyOf(request);
    if (key !== null) {
      remembered.push({ key, requestId: entry.requestId });
      remembered.splice(0, remembered.length - MAX_REMEMBERED_REQUESTS);
    }
    return entry.requestId;
  };

  upsertSearchAttributes([{ key: CompanyIdAttribute, value: companyId }]);

  /**
   * Once a run's outcome is recorded: its alert workflow, started and left to itself (ABANDON), so
   * that sending — retried for hours against a receiver that is down — never holds up the queue.
   * Whether the outcome is news is decided there, against the state in the store.
   */
  const alertAfterRun = async (run: SyncRunResult) => {
    if (run.mode === 'dry-run' || !patched(ALERT_AFTER_RUN)) return;
    try {
      await startChild(runAlertWorkflow, {
        workflowId: runAlertWorkflowId(companyId, run.runId),
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [
          {
            companyId,
            run: { companyId, runId: run.runId, status: run.status, dryRun: false, code: run.error?.code ?? null },
            ...(tuning?.alerts ? { tuning: tuning.alerts } : {}),
          },
        ],
        typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
        staticSummary: `${companyId}: alert after run ${run.runId}`,
      });
    } catch (err) {
      // Its id is the run's: it was started already (cannot happen but by hand). Never the queue's problem.
      log.warn('Alert workflow not started', {
        companyId,
        runId: run.runId,
        error: err instanceof Error ? err.name : 'unknown',
      });
    }
  };

  setHandler(syncNowSignal, (request) => {
    if (receive(request) === null) {
      log.warn('Sync request dropped: the queue is full, or a one-user request named no Lucca user', { companyId });
    }
  });
  setHandler(
    requestSyncUpdate,
    (request) => {
      const requestId = receive(request)!;
      // A request already running or over has nothing ahead of it.
      const waiting = pending.findIndex((p) => p.requestId === requestId);
      return { requestId, ahead: waiting === -1 ? 0 : waiting + (current ? 1 : 0) };
    },
    {
      // A validator runs for new updates only (never on replay), and must not record a patch marker.
      validator: (request: SyncNowRequest) => {
        if (knownRequest(request)) return;
        const r = kinds ? sanitise(request, true, true) : sanitise(request, true);
        if (!r) {
          throw ApplicationFailure.create({
            type: failureType('internal'),
            message: `A one-user sync of company ${companyId} needs a Lucca user id (a whole number).`,
            nonRetryable: true,
          });
        }
        if (!pending.some((p) => kindOf(p) === kindOf(r)) && pending.length >= MAX_PENDING_KINDS) {
          // Typed, so that callers tell a full queue from any other failure of the update.
          throw ApplicationFailure.create({
            type: failureType('queue-full'),
            message: `${pending.length} different kinds of sync request are already waiting for company ${companyId}; try again once a run has started.`,
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(statusQuery, () => ({
    companyId,
    current,
    pending,
    lastRun,
    runsSinceContinueAsNew: runs,
    ...(keyed ? { requests: remembered } : {}),
  }));

  for (;;) {
    await condition(() => pending.length > 0 || runs >= maxRuns || workflowInfo().continueAsNewSuggested);
    // A request can come as a signal and as an update in one workflow task (the update the server
    // held while no worker was there, and the signal sent after it). Which of them wakes this loop
    // depends on how the task's events are grouped, and a worker replaying the history groups them
    // differently from the one that ran it: answering every update first makes the run's start come
    // after the answers either way. (Seen as a non-determinism on replay, fixture
    // `request-update-then-signal`.)
    if (keyed) await condition(allHandlersFinished);
    if (runs >= maxRuns || workflowInfo().continueAsNewSuggested) break;

    const request = pending.shift()!;
    const { requestId } = request;
    const runId = newRunId();
    const trigger = request.trigger ?? 'manual';
    const kind = kinds ? (request.kind ?? 'full') : undefined;
    current = {
      runId,
      trigger,
      dryRun: request.dryRun ?? false,
      startedAt: new Date().toISOString(),
      requestId,
      ...(kind ? { kind } : {}),
    };
    const expectedUsers = kinds ? knownUsers : lastRun?.counts?.seen;
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
            ...(request.override ? { override: { blockedRunId: request.override.blockedRunId } } : {}),
            requestId,
            // The run's time bounds follow the company's size (a child's input is not replayed).
            ...(typeof expectedUsers === 'number' ? { expectedUsers } : {}),
            ...(tuning ? { tuning } : {}),
            ...(kind ? { kind } : {}),
            ...(kind === 'one-user' && request.luccaUserId !== undefined ? { luccaUserId: request.luccaUserId } : {}),
          },
        ],
        typedSearchAttributes: [
          { key: CompanyIdAttribute, value: companyId },
          { key: SyncTriggerAttribute, value: trigger },
          ...(kind ? [{ key: SyncKindAttribute, value: kind }] : []),
        ],
        staticSummary: `${companyId}: ${trigger}${kind ? ` ${kind}` : ''} sync${request.dryRun ? ' (dry run)' : ''}`,
      });
    } catch (err) {
      // Offboarding cancels this workflow: the child is cancelled with it and awaited (it records
      // its run as cancelled and drops its working data), then this workflow ends cancelled. A run
      // cancelled on its own (from the UI) is just a run that did not complete.
      if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
      // A failed run fails its workflow with its result as details (runs recorded before that
      // completed with it); without one, the run was terminated or timed out. Either way the
      // company workflow stays up for the next request.
      const failed = err instanceof ChildWorkflowFailure ? failedRunResult(err.cause) : null;
      if (failed) {
        lastRun = { ...failed, finishedAt: new Date().toISOString() };
        current = null;
        runs++;
        describeLastRun();
        await alertAfterRun(failed);
        continue;
      }
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
        requestId,
      };
    }
    lastRun = { ...result, finishedAt: new Date().toISOString() };
    if (kinds && (result.kind ?? 'full') === 'full' && typeof result.counts?.seen === 'number') {
      knownUsers = result.counts.seen;
    }
    current = null;
    runs++;
    describeLastRun();
    await alertAfterRun(result);
  }

  await condition(allHandlersFinished);
  await continueAsNew<typeof companySyncWorkflow>({
    companyId,
    pending,
    lastRun,
    ...(keyed ? { requests: remembered } : {}),
    ...(typeof knownUsers === 'number' ? { knownUsers } : {}),
    ...(tuning ? { tuning } : {}),
    ...(input.maxRunsPerExecution ? { maxRunsPerExecution: input.maxRunsPerExecution } : {}),
  });
}

/**
 * Requests of the same kind fold into one run: a run, a dry run, or the override of one blocked run.
 * A bare `allowMassDeactivation` is a kind of its own only as `sanitise` keeps it for executions
 * recorded before overrides named their run, which folded it so.
 */
export function kindOf(r: SyncNowRequest): string {
  const lifts = r.override ? `override:${r.override.blockedRunId}` : r.allowMassDeactivation ? 'bare' : '';
  // Requests sanitised before run kinds carry none, and fold as they did.
  const reads = r.kind ? `|${r.kind}${r.kind === 'one-user' ? `:${r.luccaUserId}` : ''}` : '';
  return `${r.dryRun ?? false}|${lifts}${reads}`;
}

/** The caller's key of a request, when it has a usable one. */
function requestKeyOf(request: SyncNowRequest | undefined): string | null {
  const key = request?.requestKey;
  return typeof key === 'string' && key.length > 0 && key.length <= MAX_REQUEST_KEY_LENGTH ? key : null;
}

function joinRequesters(folded: string | undefined, requestedBy: string | undefined): string | undefined {
  if (!requestedBy || folded?.split(', ').includes(requestedBy)) return folded;
  return (folded ? `${folded}, ${requestedBy}` : requestedBy).slice(0, MAX_REQUESTED_BY_LENGTH);
}

/**
 * A request as the queue keeps it, decoded once from what callers send: its override is the blocked
 * run it names, or none. `namedOverrides` (the patch `overrides-name-their-run`, see
 * `compat/company-sync.ts`): an override is a
 * run's id alone, and a bare `allowMassDeactivation` is dropped. Before it, an override needed its
 * reviewed counts (ignored since) and a bare flag was kept: it lifts nothing now, but it folded as a
 * kind of its own, and a replayed execution must fold as it did (see `kindOf`).
 */
export function sanitise(
  request: SyncNowRequest | undefined,
  namedOverrides: boolean,
  kinds: true,
): SyncNowRequest | null;
export function sanitise(request: SyncNowRequest | undefined, namedOverrides: boolean, kinds?: boolean): SyncNowRequest;
export function sanitise(
  request: SyncNowRequest | undefined,
  namedOverrides: boolean,
  kinds = false,
): SyncNowRequest | null {
  const r = request ?? {};
  const trigger = r.trigger === 'schedule' || r.trigger === 'onboarding' ? r.trigger : 'manual';
  const requestedBy =
    typeof r.requestedBy === 'string' && r.requestedBy.trim()
      ? { requestedBy: r.requestedBy.trim().slice(0, MAX_REQUESTED_BY_LENGTH) }
      : {};
  let reads: Pick<SyncNowRequest, 'kind' | 'luccaUserId'> = {};
  if (kinds) {
    // A schedule firing reads what changed (a full read when one is due); anything else reads
    // everyone unless it asks otherwise.
    const kind = isRunKind(r.kind) ? r.kind : trigger === 'schedule' ? 'incremental' : 'full';
    if (kind === 'one-user') {
      if (!(typeof r.luccaUserId === 'number' && Number.isSafeInteger(r.luccaUserId) && r.luccaUserId >= 0))
        return null;
      reads = { kind, luccaUserId: r.luccaUserId };
    } else {
      reads = { kind };
    }
  }
  const base: SyncNowRequest = { trigger, dryRun: r.dryRun === true, ...requestedBy, ...reads };
  if (namedOverrides) {
    const blockedRunId = typeof r.override?.blockedRunId === 'string' ? r.override.blockedRunId.trim() : '';
    return {
      ...base,
      ...(blockedRunId ? { override: { blockedRunId: blockedRunId.slice(0, MAX_REQUESTED_BY_LENGTH) } } : {}),
    };
  }
  const legacyRunId =
    r.override && typeof r.override.blockedRunId === 'string' && Array.isArray(r.override.ceilings)
      ? r.override.blockedRunId.slice(0, MAX_REQUESTED_BY_LENGTH)
      : null;
  // An override naming no run folded with the bare flag.
  if (legacyRunId) return { ...base, override: { blockedRunId: legacyRunId } };
  return {
    ...base,
    ...(legacyRunId === '' || r.allowMassDeactivation === true ? { allowMassDeactivation: true } : {}),
  };
}

/** See `runIdAt` (workflow time and uuid4 are deterministic). */
function newRunId(): string {
  return runIdAt(new Date(), uuid4().slice(0, 8));
}
