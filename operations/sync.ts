import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { companyWorkflowId, statusQuery, type CompanySyncStatus, type SyncNowRequest } from '../workflows/messages';
import type { SyncTrigger } from '../domain/types';
import { signalSyncNowWithStart } from '../workflows/client';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

export interface SyncRequestInput {
  companyId: string;
  dryRun?: boolean;
  allowMassDeactivation?: boolean;
  /** Defaults to the OS user name: an operator handle shown in reports. */
  requestedBy?: string;
  trigger?: Exclude<SyncTrigger, 'schedule'>;
}

/**
 * What identifies the run a request will become. The company workflow names runs itself, so the
 * request remembers which runs existed when it was sent; its run is the first new one of its kind.
 */
export interface SyncTicket {
  companyId: string;
  workflowId: string;
  mode: 'apply' | 'dry-run';
  allowMassDeactivation: boolean;
  requestedAt: Date;
  knownRunIds: string[];
}

export const defaultRequestedBy = (): string => {
  try {
    return os.userInfo().username || 'operator';
  } catch {
    return process.env.USER ?? 'operator';
  }
};

const KNOWN_RUNS_LOOKBACK = 50;
const QUERY_DEADLINE_MS = 3_000;

/** Sends `syncNow` to the company workflow, starting it if it is not running (signal-with-start). */
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
  return signalSyncNow(deps, {
    companyId,
    trigger: input.trigger ?? 'manual',
    requestedBy: input.requestedBy ?? defaultRequestedBy(),
    dryRun: input.dryRun ?? false,
    allowMassDeactivation: input.allowMassDeactivation ?? false,
  });
}

/** The signal itself, for callers that have already checked the company (onboarding). */
export async function signalSyncNow(
  deps: OperationsDeps,
  request: Required<Pick<SyncNowRequest, 'trigger' | 'requestedBy' | 'dryRun' | 'allowMassDeactivation'>> & {
    companyId: string;
  },
): Promise<SyncTicket> {
  const { companyId, ...signal } = request;
  const workflowId = companyWorkflowId(companyId);
  const known = new Set((await deps.repos.syncRuns.list(companyId, KNOWN_RUNS_LOOKBACK)).map((r) => r._id));
  // The run in flight may not have written its syncRuns document yet: the workflow knows it already.
  const status = await queryCompanyStatus(deps.client, companyId);
  if (status?.current) known.add(status.current.runId);
  if (status?.lastRun) known.add(status.lastRun.runId);
  const requestedAt = deps.now?.() ?? new Date();
  await signalSyncNowWithStart(deps.client, deps.config.TASK_QUEUE, companyId, signal);
  return {
    companyId,
    workflowId,
    mode: signal.dryRun ? 'dry-run' : 'apply',
    allowMassDeactivation: signal.allowMassDeactivation,
    requestedAt,
    knownRunIds: [...known],
  };
}

/** The company workflow's `status` query, or null when it is not running or no worker answers in time. */
export async function queryCompanyStatus(client: Client, companyId: string): Promise<CompanySyncStatus | null> {
  const handle = client.workflow.getHandle(companyWorkflowId(companyId));
  try {
    return await client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery));
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

/** Waits for the run a request became to finish, reporting its progress; resolves with its final document. */
export async function waitForSyncRun(
  deps: OperationsDeps,
  ticket: SyncTicket,
  opts: WaitOptions = {},
): Promise<SyncRunDocument> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  const pollMs = opts.pollMs ?? 500;
  const known = new Set(ticket.knownRunIds);
  let runId: string | null = null;
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    if (runId === null) {
      const recent = await deps.repos.syncRuns.list(ticket.companyId, KNOWN_RUNS_LOOKBACK);
      const mine = recent
        .filter((r) => !known.has(r._id) && r.mode === ticket.mode)
        .filter((r) => (r.allowMassDeactivation ?? false) === ticket.allowMassDeactivation)
        .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime())[0];
      if (mine) runId = mine._id;
      else {
        const status = await queryCompanyStatus(deps.client, ticket.companyId);
        opts.onProgress?.({ phase: 'queued', behindRunId: status?.current?.runId ?? null });
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
