import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { companyWorkflowId, datesScheduleId, scheduleId } from '../temporal/ids';
import type { OperationsDeps } from './context';
import { companyNotFound } from './errors';

/**
 * How long offboarding waits for a run in flight to stop. A cancelled run stops at its next
 * checkpoint (seconds; a rewrite of a very large company under way finishes first, which can take
 * a minute on FerretDB).
 */
export const OFFBOARD_WAIT_MS = 120_000;

export interface OffboardResult {
  companyId: string;
  scheduleDeleted: boolean;
  /**
   * `not-running`: no workflow of the company was running. `ended`: it was cancelled and has ended
   * (a run in flight ended `failed`, code `cancelled`, its working data removed). `still-running`:
   * cancellation is requested but it had not ended within the wait (no worker running?): it ends
   * when a worker picks the cancellation up, and the sweeper removes what it leaves.
   */
  workflow: 'not-running' | 'ended' | 'still-running';
  apiKeyErased: boolean;
  /** Runs of the company whose working collections (staging, plan) were removed here. */
  workingDataRemoved: string[];
  /** Runs still marked running, whose working data is left to their workflow (or the sweeper). */
  runsStillRunning: string[];
  /** Journals of unfinished rewrites kept for an operator (a later run may have written since; see the sweeper). */
  journalsKept: string[];
}

/**
 * Stops syncing a company: marks it offboarded — from then on every request and schedule firing
 * is refused, so nothing starts its workflow again — deletes its schedule, cancels its workflow
 * (a run in flight stops at its next checkpoint and ends `failed` with code `cancelled`, its
 * staging dropped), erases the stored key, waits (bounded) for the workflow to end, cancelling any
 * execution a request that passed its check just before the mark started meanwhile, then removes
 * whatever working data earlier runs of the company left. Profiles and reports are kept.
 * Re-runnable; onboarding brings the company back.
 */
export async function offboardCompany(
  deps: OperationsDeps,
  input: { companyId: string; requestedBy?: string; waitMs?: number },
): Promise<OffboardResult> {
  const { companyId } = input;
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw companyNotFound(companyId);

  const now = () => deps.now?.() ?? new Date();
  await deps.repos.companies.markOffboarded(companyId, now());

  let scheduleDeleted = false;
  try {
    await deps.client.schedule.getHandle(scheduleId(companyId)).delete();
    scheduleDeleted = true;
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  try {
    await deps.client.schedule.getHandle(datesScheduleId(companyId)).delete();
  } catch (err) {
    // A company onboarded before date schedules has none.
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }

  const handle = deps.client.workflow.getHandle(companyWorkflowId(companyId));
  // Cancelled rather than terminated: a terminated run cannot record how it ended nor drop its
  // staging (the employees it read), and would stay `running` until the sweeper closed it.
  const cancelled = new Set<string>();
  await cancelRunning(handle, cancelled);

  // Before the wait: whatever happens next, the key is gone.
  const apiKeyErased = company.lucca.apiKey !== null;
  await deps.repos.companies.eraseApiKey(companyId, now());
  // Looked at again: a request that checked the company just before the mark may have started it since.
  await cancelRunning(handle, cancelled);

  let workflow: OffboardResult['workflow'] = 'not-running';
  if (cancelled.size > 0) {
    const ended = await waitUntilEnded(handle, input.waitMs ?? OFFBOARD_WAIT_MS, cancelled);
    workflow = ended ? 'ended' : 'still-running';
  }

  const { removed, running, journalsKept } = await deps.repos.workingData.removeCompanyRuns(companyId);
  // Nothing of the company can be applied anyway any more.
  await deps.repos.reviewed.dropOthers(companyId);
  return {
    companyId,
    scheduleDeleted,
    workflow,
    apiKeyErased,
    workingDataRemoved: removed,
    runsStillRunning: running,
    journalsKept,
  };
}

/** The run id of the workflow's execution while it runs; null when it is not running. */
async function runningRunId(handle: WorkflowHandle): Promise<string | null> {
  try {
    const description = await handle.describe();
    return description.status.name === 'RUNNING' ? description.runId : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** Cancels the running execution unless it already was (`cancelled` holds the run ids); false when none runs. */
async function cancelRunning(handle: WorkflowHandle, cancelled: Set<string>): Promise<boolean> {
  const runId = await runningRunId(handle);
  if (runId === null) return false;
  if (cancelled.has(runId)) return true;
  try {
    await handle.cancel();
    cancelled.add(runId);
    return true;
  } catch (err) {
    // It closed meanwhile.
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Polls the workflow until no execution of it runs, for at most `waitMs`, cancelling any new
 * execution that shows up meanwhile.
 */
async function waitUntilEnded(handle: WorkflowHandle, waitMs: number, cancelled: Set<string>): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (!(await cancelRunning(handle, cancelled))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
  }
}
