import { ScheduleNotFoundError } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { companyWorkflowId, scheduleId } from '../workflows/messages';
import type { OperationsDeps } from './context';
import { companyNotFound } from './errors';

export interface OffboardResult {
  companyId: string;
  scheduleDeleted: boolean;
  workflowEnded: boolean;
  apiKeyErased: boolean;
}

/**
 * Stops syncing a company: deletes its schedule, ends its workflow (a run in flight is
 * terminated with it; applying is idempotent, so a later re-onboarding repairs any half-applied
 * run) and erases the stored key. Profiles and reports are kept. Re-runnable.
 */
export async function offboardCompany(
  deps: OperationsDeps,
  input: { companyId: string; requestedBy?: string },
): Promise<OffboardResult> {
  const { companyId } = input;
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw companyNotFound(companyId);

  let scheduleDeleted = false;
  try {
    await deps.client.schedule.getHandle(scheduleId(companyId)).delete();
    scheduleDeleted = true;
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }

  let workflowEnded = false;
  try {
    await deps.client.workflow
      .getHandle(companyWorkflowId(companyId))
      .terminate(`Company offboarded${input.requestedBy ? ` by ${input.requestedBy}` : ''}`);
    workflowEnded = true;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }

  const apiKeyErased = company.lucca.apiKey !== null;
  await deps.repos.companies.eraseApiKey(companyId, deps.now?.() ?? new Date());
  return { companyId, scheduleDeleted, workflowEnded, apiKeyErased };
}
