import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { CompanyDocument } from '../db/companies-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { taskQueueWorkers, type TaskQueueWorkers } from '../temporal/client';
import { companyWorkflowId, scheduleId } from '../temporal/ids';
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
  /**
   * While the workflow runs: whether a worker polls its task queue. With none, its requests wait
   * (recorded) and no run starts until one does. Null when the workflow is not running, or the
   * server would not say.
   */
  worker: TaskQueueWorkers | null;
  lastRun: Pick<
    SyncRunDocument,
    '_id' | 'trigger' | 'mode' | 'status' | 'startedAt' | 'finishedAt' | 'counts' | 'error' | 'requestedBy' | 'kind'
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
  // Companies share a few task queues: each is asked about once.
  const workers = new Map<string, Promise<TaskQueueWorkers | null>>();
  const workersOf = (taskQueue: string) => {
    let found = workers.get(taskQueue);
    if (!found) {
      found = taskQueueWorkers(deps.client, taskQueue).catch(() => null);
      workers.set(taskQueue, found);
    }
    return found;
  };
  return Promise.all(companies.map((c) => companyStatus(deps, c, workersOf)));
}

async function companyStatus(
  deps: OperationsDeps,
  company: CompanyDocument,
  workersOf: (taskQueue: string) => Promise<TaskQueueWorkers | null>,
): Promise<CompanyStatus> {
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
  let worker: TaskQueueWorkers | null = null;
  try {
    const description = await deps.client.workflow.getHandle(companyWorkflowId(companyId)).describe();
    workflowRunning = description.status.name === 'RUNNING';
    if (workflowRunning) worker = await workersOf(description.taskQueue);
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
    worker,
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
          ...(last.kind ? { kind: last.kind } : {}),
        }
      : null,
  };
}
