import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { syncRefusal, type CompanyDocument } from '../db/companies-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { failureType } from '../domain/failures';
import type { GuardOverride } from '../domain/guards';
import { statusQuery, type CompanySyncStatus, type SyncNowRequest } from '../workflows/messages';
import { companyWorkflowId } from '../temporal/ids';
import type { RunKind, SyncTrigger } from '../domain/types';
import {
  requestSyncWithStart,
  runningCompanyWorkflowQueue,
  signalSyncNowWithStart,
  taskQueueWorkers,
  type TaskQueueWorkers,
} from '../temporal/client';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

export interface SyncRequestInput {
  companyId: string;
  dryRun?: boolean;
  /**
   * Apply a blocked run anyway: the company's latest run must be blocked (`blockedRunId`, when
   * given, must be that run: the one the operator reviewed), and the new run applies the guarded
   * changes of the people it planned, no others (checked again when the run starts).
   */
  applyAnyway?: { blockedRunId?: string };
  /** Defaults to the OS user name: an operator handle shown in reports. */
  requestedBy?: string;
  trigger?: Exclude<SyncTrigger, 'schedule'>;
  /** The caller's key of this request (a form's, a retried call's); a new one by default. */
  requestKey?: string;
  /** What the run reads; default `full` (see `RunKind`). `one-user` needs `luccaUserId`. */
  kind?: RunKind;
  /** Re-sync this one Lucca user (implies kind `one-user`). */
  luccaUserId?: number;
}

/** Which run a request becomes: the company workflow answers the request with the id that run carries. */
export interface SyncTicket {
  companyId: string;
  workflowId: string;
  mode: 'apply' | 'dry-run';
  /** The caller's key of the request (sent as the update's id): the same key again is the same request. */
  requestKey: string;
  /**
   * The id the run will carry, as the workflow answered it; null while the request is `queued`
   * without an answer (the workflow says it later in `status`, against the request's key).
   */
  requestId: string | null;
  /** Runs queued or running before this one when it was accepted; null when not answered. */
  ahead: number | null;
  /** The task queue of the company's workflow: where a worker must poll for the request to run. */
  taskQueue: string;
  /**
   * Set when no worker answered in time: the request is recorded in Temporal all the same (as a
   * `syncNow` signal carrying its key) and runs once a worker takes it.
   */
  queued?: { reason: 'no-worker' | 'no-answer'; message: string };
  /** The blocked run this request applies anyway. */
  overrideOf?: string;
}

/** What the audit log keeps of a request: its ids, and whether it waits for a worker. */
export function ticketAuditDetails(t: SyncTicket): Record<string, string | null> {
  return {
    requestId: t.requestId,
    requestKey: t.requestKey,
    ...(t.queued ? { queued: t.queued.reason } : {}),
    ...(t.overrideOf ? { overrideOf: t.overrideOf } : {}),
  };
}

export const defaultRequestedBy = (): string => {
  try {
    return os.userInfo().username || 'operator';
  } catch {
    return process.env.USER ?? 'operator';
  }
};

const RECENT_RUNS = 50;
const QUERY_DEADLINE_MS = 3_000;
/**
 * How long a request waits for the company workflow to answer before it goes as a signal instead,
 * which is recorded without a worker. With a worker polling, an answer takes well under a second.
 */
export const ANSWER_WITHIN_MS = 5_000;

/** A request key a caller may give (a UUID, a firing's workflow id): what forms and the API accept. */
export const REQUEST_KEY_PATTERN = /^[A-Za-z0-9:._-]{8,100}$/;

/** What a request with no worker to take it is answered: the run waits for one. */
export const noWorkerSentence = (taskQueue: string) =>
  `queued — no worker is serving task queue ${taskQueue} right now; the run starts when one is`;

/** Queues a sync with the company workflow (starting it if it is not running) and returns its ticket. */
export async function requestSync(deps: OperationsDeps, input: SyncRequestInput): Promise<SyncTicket> {
  const { companyId } = input;
  if (input.requestKey !== undefined && !REQUEST_KEY_PATTERN.test(input.requestKey)) {
    throw new OperationError('usage', 'A request key is 8 to 100 letters, digits and : . _ - (e.g. a UUID).');
  }
  const kind: RunKind = input.luccaUserId !== undefined ? 'one-user' : (input.kind ?? 'full');
  if (kind === 'one-user' && !(Number.isSafeInteger(input.luccaUserId) && input.luccaUserId! >= 0)) {
    throw new OperationError(
      'usage',
      'A one-user sync needs the Lucca user id, a whole number (e.g. --lucca-user 416).',
    );
  }
  if (input.applyAnyway && kind !== 'full') {
    throw new OperationError('usage', `Applying a blocked run anyway reads in full; it cannot be a ${kind} run.`);
  }
  refuseUnsyncable(companyId, await deps.repos.companies.get(companyId));
  const override = input.applyAnyway ? await reviewedOverride(deps, companyId, input.applyAnyway.blockedRunId) : null;
  return sendSyncRequest(deps, {
    companyId,
    trigger: input.trigger ?? 'manual',
    requestedBy: input.requestedBy ?? defaultRequestedBy(),
    dryRun: input.dryRun ?? false,
    ...(override ? { override } : {}),
    ...(input.requestKey ? { requestKey: input.requestKey } : {}),
    kind,
    ...(kind === 'one-user' ? { luccaUserId: input.luccaUserId } : {}),
  });
}

/** Refuses a request for a company that is not onboarded, or is offboarded or being offboarded. */
export function refuseUnsyncable(
  companyId: string,
  company: CompanyDocument | null,
): asserts company is CompanyDocument {
  const refusal = syncRefusal(company);
  if (refusal === 'company-not-found') throw companyNotFound(companyId);
  if (refusal === 'offboarded') {
    throw new OperationError(
      'offboarded',
      company?.lucca.apiKey === null
        ? `Company "${companyId}" was offboarded (its Lucca key is erased); onboard it again to sync.`
        : `Company "${companyId}" is being offboarded; it gets no new sync. Onboard it again once offboarding is done.`,
    );
  }
}

/**
 * What an override confirms: the company's latest run, blocked (the people its guarded changes
 * touch are kept with it, in MongoDB). Refused when there is no such run (nothing was reviewed),
 * or when the run the operator reviewed is no longer the latest. The run checks it again when it
 * starts, as other runs may end in between.
 */
async function reviewedOverride(deps: OperationsDeps, companyId: string, runId?: string): Promise<GuardOverride> {
  const latest = await deps.repos.syncRuns.latest(companyId);
  if (!latest || latest.status !== 'blocked' || !latest.guard) {
    throw new OperationError(
      'nothing-to-override',
      `The latest run of "${companyId}" is ${latest ? `${latest.status} (${latest._id})` : 'missing'}, not blocked: there is nothing to apply anyway. Sync; if the run is blocked, review its report, then apply it anyway.`,
    );
  }
  if (runId !== undefined && runId !== latest._id) {
    throw new OperationError(
      'nothing-to-override',
      `Run ${runId} is not the latest run of "${companyId}" (${latest._id} is): review the latest run's report before applying anyway.`,
    );
  }
  return { blockedRunId: latest._id };
}

/**
 * The request itself, for callers that have already checked the company (onboarding). Answered
 * within seconds whether or not a worker serves the company's workflow: when one polls its task
 * queue, as the `requestSync` update (its answer names the run's request id); when none does, or
 * none answers within `ANSWER_WITHIN_MS`, as a `syncNow` signal carrying the same key, recorded at
 * once and folded the same way, and the ticket says the request is `queued` and why.
 */
export async function sendSyncRequest(
  deps: OperationsDeps,
  request: Required<Pick<SyncNowRequest, 'trigger' | 'requestedBy' | 'dryRun'>> &
    Pick<SyncNowRequest, 'requestKey' | 'kind' | 'luccaUserId'> & { companyId: string; override?: GuardOverride },
): Promise<SyncTicket> {
  const { companyId, ...rest } = request;
  const sent: SyncNowRequest = { ...rest, requestKey: rest.requestKey ?? randomUUID() };
  const startQueue = deps.config.TASK_QUEUE;
  const taskQueue = (await runningCompanyWorkflowQueue(deps.client, companyId)) ?? startQueue;
  const ticket = {
    companyId,
    mode: rest.dryRun ? 'dry-run' : 'apply',
    requestKey: sent.requestKey!,
    taskQueue,
    ...(rest.override ? { overrideOf: rest.override.blockedRunId } : {}),
  } as const;
  const workers = await workersOrUnknown(deps.client, taskQueue);
  if (workers?.serving !== false) {
    try {
      const accepted = await requestSyncWithStart(deps.client, startQueue, companyId, sent, {
        answerWithinMs: ANSWER_WITHIN_MS,
      });
      return { ...ticket, workflowId: accepted.workflowId, requestId: accepted.requestId, ahead: accepted.ahead };
    } catch (err) {
      if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw describeUpdateFailure(companyId, err);
    }
  }
  const { workflowId } = await signalSyncNowWithStart(deps.client, startQueue, companyId, sent);
  const queued: NonNullable<SyncTicket['queued']> =
    workers?.serving === false
      ? { reason: 'no-worker', message: noWorkerSentence(taskQueue) }
      : {
          reason: 'no-answer',
          message: `queued — the company's workflow did not answer within ${ANSWER_WITHIN_MS / 1000} s although task queue ${taskQueue} has a worker (busy, or failing: see ${workflowId} in the Temporal UI); the run starts when a worker takes it`,
        };
  return { ...ticket, workflowId, requestId: null, ahead: null, queued };
}

/** Who serves the task queue; null when the server would not say (then the update's deadline decides). */
async function workersOrUnknown(client: Client, taskQueue: string): Promise<TaskQueueWorkers | null> {
  try {
    return await taskQueueWorkers(client, taskQueue);
  } catch {
    return null;
  }
}

/** An update's failure, by what it is: a full queue (the validator's typed refusal), or anything else. */
function describeUpdateFailure(companyId: string, err: unknown): unknown {
  if (!(err instanceof WorkflowUpdateFailedError)) return err;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type === failureType('queue-full')) {
    return new OperationError('queue-full', cause.message);
  }
  const what =
    cause instanceof ApplicationFailure
      ? `${cause.type ?? 'Error'}: ${cause.message}`
      : String(cause?.message ?? err.message);
  return new OperationError(
    'request-failed',
    `The workflow of "${companyId}" failed the sync request (${what}); see ${companyWorkflowId(companyId)} in the Temporal UI. The request may not be queued: check \`npm run cli -- status --company ${companyId}\` before asking again.`,
  );
}

/** The company workflow's `status` query, or null when it is not running or no worker answers in time. */
export async function queryCompanyStatus(
  client: Client,
  companyId: string,
  deadlineMs = QUERY_DEADLINE_MS,
): Promise<CompanySyncStatus | null> {
  const handle = client.workflow.getHandle(companyWorkflowId(companyId));
  try {
    return await client.connection.withDeadline(Date.now() + deadlineMs, () => handle.query(statusQuery));
  } catch {
    return null;
  }
}

export type WaitProgress =
  | {
      phase: 'queued';
      behindRunId: string | null;
      /** The task queue no worker serves, while that is so: the run cannot start yet. */
      noWorkerOn?: string;
    }
  | { phase: 'running'; run: SyncRunDocument };

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  /** Give up (`no-worker`) once no worker has served the task queue for this long, the run not started. */
  noWorkerWaitMs?: number;
  onProgress?: (progress: WaitProgress) => void;
  signal?: AbortSignal;
}

/**
 * How long a wait for a run goes on while no worker serves the company workflow's task queue: a
 * worker restarting (a deploy) is back well within it; past it, the wait fails with the reason and
 * the request stays recorded for when one comes.
 */
export const NO_WORKER_WAIT_MS = 60_000;
/** How often a wait that has no answer from the workflow asks the server who polls its task queue. */
const WORKER_CHECK_MS = 2_000;

/**
 * The run a request became, once it has started: the company workflow names it in its status
 * while it runs or was the last, and the run's document carries the request's id for good. A
 * request that went unanswered (`queued`) learns its request id from the status, by its key.
 */
export async function runOfRequest(
  deps: OperationsDeps,
  ticket: Pick<SyncTicket, 'companyId' | 'requestId' | 'requestKey'>,
): Promise<{ requestId: string | null; runId: string | null; status: CompanySyncStatus | null }> {
  const status = await queryCompanyStatus(deps.client, ticket.companyId);
  const requestId = ticket.requestId ?? status?.requests?.find((r) => r.key === ticket.requestKey)?.requestId ?? null;
  if (requestId === null) return { requestId, runId: null, status };
  for (const run of [status?.current, status?.lastRun]) {
    if (run?.requestId === requestId) return { requestId, runId: run.runId, status };
  }
  const recent = await deps.repos.syncRuns.list(ticket.companyId, RECENT_RUNS);
  return { requestId, runId: recent.find((r) => r.requestId === requestId)?._id ?? null, status };
}

/**
 * Waits for the run a request became to finish, reporting its progress; resolves with its final
 * document. Fails with `no-worker` when no worker has served the workflow's task queue for
 * `noWorkerWaitMs` before the run started (the request stays recorded), and with `wait-timeout`
 * past `timeoutMs`.
 */
export async function waitForSyncRun(
  deps: OperationsDeps,
  ticket: SyncTicket,
  opts: WaitOptions = {},
): Promise<SyncRunDocument> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  const pollMs = opts.pollMs ?? 500;
  const noWorkerWaitMs = opts.noWorkerWaitMs ?? NO_WORKER_WAIT_MS;
  let requestId = ticket.requestId;
  let runId: string | null = null;
  let noWorkerSince = ticket.queued?.reason === 'no-worker' ? Date.now() : null;
  let workersCheckedAt = 0;
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    if (runId === null) {
      const found = await runOfRequest(deps, { ...ticket, requestId });
      ({ requestId, runId } = found);
      if (runId === null) {
        if (found.status !== null) noWorkerSince = null;
        else if (Date.now() - workersCheckedAt >= WORKER_CHECK_MS) {
          // The workflow did not answer its status query: is any worker there at all?
          workersCheckedAt = Date.now();
          const serving = (await workersOrUnknown(deps.client, ticket.taskQueue))?.serving !== false;
          noWorkerSince = serving ? null : (noWorkerSince ?? Date.now());
        }
        opts.onProgress?.({
          phase: 'queued',
          behindRunId: found.status?.current?.runId ?? null,
          ...(noWorkerSince !== null ? { noWorkerOn: ticket.taskQueue } : {}),
        });
        if (noWorkerSince !== null && Date.now() - noWorkerSince >= noWorkerWaitMs) {
          throw new OperationError(
            'no-worker',
            `Sync of "${ticket.companyId}" ${noWorkerSentence(ticket.taskQueue)}. Stopped waiting after ${Math.round(noWorkerWaitMs / 1000)} s; the request stays recorded in Temporal (see \`npm run cli -- status --company ${ticket.companyId}\`).`,
          );
        }
      }
    }
    if (runId !== null) {
      const run = await deps.repos.syncRuns.get(runId);
      if (run) {
        opts.onProgress?.({ phase: 'running', run });
        if (run.status !== 'running') return run;
      }
    }
    await sleep(pollMs, undefined, { signal: opts.signal });
  }
  throw new OperationError(
    'wait-timeout',
    `Gave up waiting for the sync of "${ticket.companyId}" to finish${runId ? ` (run ${runId} is still running)` : ' (it has not started: is a worker running on the task queue?)'}. It goes on in Temporal; see \`npm run cli -- status --company ${ticket.companyId}\`.`,
  );
}
