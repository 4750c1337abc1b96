import { ApplicationFailure } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { GuardCeiling, GuardOverride } from '../domain/guards';
import type { RunKind, SyncCounts, SyncTrigger } from '../domain/types';
import type { RunError } from '../domain/failures';
import type { AlertTuning } from './alert';

// Signals, queries, updates and the workflows' inputs and results: a contract as well (the
// CLI, the console and recorded histories rely on them). Ids and search attributes: `temporal/`.

/**
 * An operator's confirmation of a blocked run, as requests and run inputs carry it: the run
 * reviewed. The run it becomes applies the changes of the people that run planned, no others
 * (their ids are in MongoDB, never here). Decoded where it enters into a `GuardOverride`.
 */
export interface SyncOverride extends GuardOverride {
  /** Sent by earlier versions (the counts reviewed); carried by old histories, otherwise ignored. */
  ceilings?: GuardCeiling[];
}

export interface SyncNowRequest {
  /** An operator handle (not an employee's data); shown in reports. */
  requestedBy?: string;
  dryRun?: boolean;
  /** Apply a blocked run anyway: the run reviewed. */
  override?: SyncOverride;
  /**
   * Sent by earlier versions beside `override` (or alone, a raw `syncNow`, which lifted every guard
   * then). It lifts nothing now: recorded requests carry it, and the company workflow drops it,
   * except where it replays an execution recorded before overrides named their run.
   */
  allowMassDeactivation?: boolean;
  /** Defaults to `manual`; the schedule and onboarding say who they are. */
  trigger?: SyncTrigger;
  /**
   * The caller's own id for this request (the CLI and the console make a UUID, a schedule firing
   * uses its workflow id), also sent as the update's id: the same key twice is one request, which
   * joins the queue once and answers both callers alike (see `RememberedRequest`).
   */
  requestKey?: string;
  /**
   * What the run reads (see `RunKind`). Default: `incremental` for a schedule firing (a full read
   * when one is due), `full` otherwise.
   */
  kind?: RunKind;
  /** The Lucca user a `one-user` run reads (a Lucca id, no other data). */
  luccaUserId?: number;
}

/** A request key the company workflow has seen, and the request (`PendingSync.requestId`) it joined. */
export interface RememberedRequest {
  key: string;
  requestId: string;
}

/**
 * A request waiting in the company workflow. Requests of the same kind fold into one as they
 * arrive (so the queue holds at most a few entries whatever the flood); each entry has an id,
 * which the `requestSync` update returns and the run it becomes carries (status, run document).
 */
export interface PendingSync extends SyncNowRequest {
  requestId: string;
  /** How many requests folded into this one. */
  requests: number;
}

/** What `requestSync` answers: the id the run will carry, and how many runs are queued before it. */
export interface SyncRequestAccepted {
  requestId: string;
  ahead: number;
}

export type RunOutcome = 'succeeded' | 'failed' | 'blocked';
/** The `SyncOutcome` search attribute of a finished run workflow. */
export type SyncOutcome = 'succeeded' | 'dry-run' | 'failed' | 'blocked' | 'cancelled';

export interface SyncRunResult {
  runId: string;
  status: RunOutcome;
  mode: 'apply' | 'dry-run';
  counts: SyncCounts | null;
  profileWrites: number;
  error: RunError | null;
  /** e.g. `acme: 3 created, 12 updated, 1 deactivated` — ids and counts only. */
  summary: string;
  /** The request (`PendingSync.requestId`) this run serves; absent on runs started otherwise. */
  requestId?: string;
  /** What the run read (absent from runs recorded before run kinds, which read in full). */
  kind?: RunKind;
}

/**
 * Knobs for tests and chaos runs (how fast a failing Lucca read gives up, how soon a dead
 * worker's activity is retried). Production uses the defaults.
 */
export interface SyncTuning {
  readMaximumAttempts?: number;
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** The read's schedule-to-close bound, instead of the one from the company's size (`readBoundMs`). */
  readBoundMs?: number;
  /** The plan's and the apply's schedule-to-close bound (`workBoundMs`). */
  workBoundMs?: number;
  /** The whole run's bound, a workflow timer (`runBoundMs`). */
  runBoundMs?: number;
  /** The alerts' delivery bound and retries (tests shorten them), passed to each run's alert workflow. */
  alerts?: AlertTuning;
}

export interface SyncRunInput {
  companyId: string;
  runId: string;
  trigger: SyncTrigger;
  requestedBy: string | null;
  dryRun: boolean;
  /** Apply a blocked run anyway: the run reviewed (see `SyncOverride`). */
  override?: SyncOverride;
  /** Carried by runs of earlier versions (see `SyncNowRequest`); ignored, as the run's override says it all. */
  allowMassDeactivation?: boolean;
  requestId?: string;
  /**
   * Users the company's last run saw in Lucca (absent when unknown): what the run's time bounds
   * are derived from (`domain/run-bounds.ts`).
   */
  expectedUsers?: number;
  tuning?: SyncTuning;
  /** What the run reads; absent from runs of earlier versions (a full read). */
  kind?: RunKind;
  /** A `one-user` run's Lucca user. */
  luccaUserId?: number;
}

export interface CompanySyncStatus {
  companyId: string;
  current: {
    runId: string;
    trigger: SyncTrigger;
    dryRun: boolean;
    startedAt: string;
    requestId?: string;
    kind?: RunKind;
  } | null;
  pending: PendingSync[];
  lastRun: (SyncRunResult & { finishedAt: string }) | null;
  runsSinceContinueAsNew: number;
  /**
   * The latest request keys and the request each joined, oldest first: how a caller whose request
   * went by signal (no worker answered in time) learns its request id. Absent from executions
   * started before keys were remembered.
   */
  requests?: RememberedRequest[];
}

export interface CompanySyncInput {
  companyId: string;
  /** Carried across continue-as-new (executions from before `PendingSync` carried plain requests). */
  pending?: (SyncNowRequest & Partial<PendingSync>)[];
  lastRun?: CompanySyncStatus['lastRun'];
  /** The remembered request keys, carried across continue-as-new so that a retry still finds its request. */
  requests?: RememberedRequest[];
  tuning?: SyncTuning;
  /**
   * Users the company's last full read saw: what its runs' time bounds come from (an incremental
   * run's count is only who changed). Carried across continue-as-new.
   */
  knownUsers?: number;
  /** Continue-as-new after this many runs (default 100); tests lower it. */
  maxRunsPerExecution?: number;
}

export const syncNowSignal = defineSignal<[SyncNowRequest]>('syncNow');
export const statusQuery = defineQuery<CompanySyncStatus>('status');
/** `syncNow` that answers: the request's id, to find the run it becomes (`--wait`, the console). */
export const requestSyncUpdate = defineUpdate<SyncRequestAccepted, [SyncNowRequest]>('requestSync');

/** The result a failed run workflow carries as its failure's details (see `syncRunWorkflow`), or null. */
export function failedRunResult(failure: unknown): SyncRunResult | null {
  if (!(failure instanceof ApplicationFailure)) return null;
  const detail = failure.details?.[0] as Partial<SyncRunResult> | undefined;
  return detail && typeof detail.runId === 'string' && detail.status === 'failed' ? (detail as SyncRunResult) : null;
}
