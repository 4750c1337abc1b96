import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import {
  companyWorkflowId,
  statusQuery,
  type CompanySyncStatus,
  type SyncNowRequest,
  type SyncOverride,
} from '../workflows/messages';
import type { SyncTrigger } from '../domain/types';
import { requestSyncWithStart } from '../workflows/client';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

export interface SyncRequestInput {
  companyId: string;
  dryRun?: boolean;
  /**
   * Apply a blocked run anyway: the company's latest run must be blocked (`overrideRunId`, when
   * given, must be that run: the one the operator reviewed), and the new run applies the guarded
   * changes of the people it planned, no others (checked again when the run starts).
   */
  allowMassDeactivation?: boolean;
  overrideRunId?: string;
  /** Defaults to the OS user name: an operator handle shown in reports. */
  requestedBy?: string;
  trigger?: Exclude<SyncTrigger, 'schedule'>;
}

/** Which run a request becomes: the company workflow answers the request with the id that run carries. */
export interface SyncTicket {
  companyId: string;
  workflowId: string;
  mode: 'apply' | 'dry-run';
  requestId: string;
  /** Runs queued or running before this one when it was accepted. */
  ahead: number;
  /** The blocked run this request applies anyway. */
  overrideOf?: string;
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

/** Queues a sync with the company workflow (starting it if it is not running) and returns its ticket. */
export async function requestSync(deps: OperationsDeps, input: SyncRequestInput): Promise<SyncTicket> {
  const { companyId } = input;
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw companyNotFound(companyId);
  if (company.lucca.apiKey === null) {
    throw new OperationError(
      'offboarded',
      `Company "${companyId}" was offboarded (its Lucca key is erased); onboard it again to sync.`,
    );
  }
  const override = input.allowMassDeactivation ? await reviewedOverride(deps, companyId, input.overrideRunId) : null;
  return sendSyncRequest(deps, {
    companyId,
    trigger: input.trigger ?? 'manual',
    requestedBy: input.requestedBy ?? defaultRequestedBy(),
    dryRun: input.dryRun ?? false,
    ...(override ? { allowMassDeactivation: true, override } : {}),
  });
}

/**
 * What an override confirms: the company's latest run, blocked (the people its guarded changes
 * touch are kept with it, in MongoDB). Refused when there is no such run (nothing was reviewed),
 * or when the run the operator reviewed is no longer the latest. The run checks it again when it
 * starts, as other runs may end in between.
 */
async function reviewedOverride(deps: OperationsDeps, companyId: string, runId?: string): Promise<SyncOverride> {
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

/** The request itself, for callers that have already checked the company (onboarding). */
export async function sendSyncRequest(
  deps: OperationsDeps,
  request: Required<Pick<SyncNowRequest, 'trigger' | 'requestedBy' | 'dryRun'>> &
    Pick<SyncNowRequest, 'allowMassDeactivation' | 'override'> & { companyId: string },
): Promise<SyncTicket> {
  const { companyId, ...rest } = request;
  try {
    const accepted = await requestSyncWithStart(deps.client, deps.config.TASK_QUEUE, companyId, rest);
    return {
      companyId,
      workflowId: accepted.workflowId,
      mode: rest.dryRun ? 'dry-run' : 'apply',
      requestId: accepted.requestId,
      ahead: accepted.ahead,
      ...(rest.override ? { overrideOf: rest.override.blockedRunId } : {}),
    };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new OperationError('queue-full', err.cause?.message ?? err.message);
    }
    throw err;
  }
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

export type WaitProgress = { phase: 'queued'; behindRunId: string | null } | { phase: 'running'; run: SyncRunDocument };

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  onProgress?: (progress: WaitProgress) => void;
  signal?: AbortSignal;
}

/**
 * The run a request became, once it has started: the company workflow names it in its status
 * while it runs or was the last, and the run's document carries the request's id for good.
 */
export async function runOfRequest(
  deps: OperationsDeps,
  ticket: Pick<SyncTicket, 'companyId' | 'requestId'>,
): Promise<{ runId: string | null; status: CompanySyncStatus | null }> {
  const status = await queryCompanyStatus(deps.client, ticket.companyId);
  for (const run of [status?.current, status?.lastRun]) {
    if (run?.requestId === ticket.requestId) return { runId: run.runId, status };
  }
  const recent = await deps.repos.syncRuns.list(ticket.companyId, RECENT_RUNS);
  return { runId: recent.find((r) => r.requestId === ticket.requestId)?._id ?? null, status };
}

/** Waits for the run a request became to finish, reporting its progress; resolves with its final document. */
export async function waitForSyncRun(
  deps: OperationsDeps,
  ticket: SyncTicket,
  opts: WaitOptions = {},
): Promise<SyncRunDocument> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  const pollMs = opts.pollMs ?? 500;
  let runId: string | null = null;
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    if (runId === null) {
      const found = await runOfRequest(deps, ticket);
      runId = found.runId;
      if (runId === null) opts.onProgress?.({ phase: 'queued', behindRunId: found.status?.current?.runId ?? null });
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
