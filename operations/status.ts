import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { CompanyDocument } from '../db/companies-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { companyWorkflowId, scheduleId } from '../workflows/messages';
import type { OperationsDeps } from './context';
import { companyNotFound } from './errors';

export interface CompanyStatus {
  companyId: string;
  name: string;
  timezone: string;
  luccaBaseUrl: string;
  /** The key's last 4 characters; null once offboarded. */
  apiKeyHint: string | null;
  connected: boolean;
  every: string;
  paused: boolean;
  schedule: { exists: boolean; paused: boolean; nextRunAt: Date | null };
  workflowRunning: boolean;
  lastRun: Pick<
    SyncRunDocument,
    '_id' | 'trigger' | 'mode' | 'status' | 'startedAt' | 'finishedAt' | 'counts' | 'error' | 'requestedBy'
  > | null;
}

/** Every company (or one): its frequency, schedule state, next scheduled run and last run. */
export async function getCompaniesStatus(
  deps: OperationsDeps,
  input: { companyId?: string } = {},
): Promise<CompanyStatus[]> {
  let companies: CompanyDocument[];
  if (input.companyId) {
    const company = await deps.repos.companies.get(input.companyId);
    if (!company) throw companyNotFound(input.companyId);
    companies = [company];
  } else {
    companies = await deps.repos.companies.list();
  }
  return Promise.all(companies.map((c) => companyStatus(deps, c)));
}

async function companyStatus(deps: OperationsDeps, company: CompanyDocument): Promise<CompanyStatus> {
  const companyId = company._id;
  let schedule: CompanyStatus['schedule'] = { exists: false, paused: company.sync.paused, nextRunAt: null };
  try {
    const description = await deps.client.schedule.getHandle(scheduleId(companyId)).describe();
    schedule = {
      exists: true,
      paused: description.state.paused,
      nextRunAt: description.state.paused ? null : (description.info.nextActionTimes[0] ?? null),
    };
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  let workflowRunning = false;
  try {
    const description = await deps.client.workflow.getHandle(companyWorkflowId(companyId)).describe();
    workflowRunning = description.status.name === 'RUNNING';
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const last = await deps.repos.syncRuns.latest(companyId);
  return {
    companyId,
    name: company.name,
    timezone: company.timezone,
    luccaBaseUrl: company.lucca.baseUrl,
    apiKeyHint: company.lucca.apiKey === null ? null : company.lucca.apiKeyHint,
    connected: company.lucca.apiKey !== null,
    every: company.sync.every,
    paused: schedule.exists ? schedule.paused : company.sync.paused,
    schedule,
    workflowRunning,
    lastRun: last
      ? {
          _id: last._id,
          trigger: last.trigger,
          mode: last.mode,
          status: last.status,
          startedAt: last.startedAt,
          finishedAt: last.finishedAt,
          counts: last.counts,
          error: last.error,
          requestedBy: last.requestedBy,
        }
      : null,
  };
}
