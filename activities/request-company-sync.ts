import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { syncRefusal } from '../db/companies-repository';
import type { Repositories } from '../db/mongo';
import { failureType } from '../domain/failures';
import { requestSyncWithStart } from '../temporal/client';
import { requireTemporal } from './errors';

export interface RequestCompanySyncDeps {
  repos: Pick<Repositories, 'companies'>;
  /** Needed only by the schedule's activity: it sends the request to the company workflow through the client. */
  temporal?: { client: Client; taskQueue: string };
}

export interface RequestCompanySyncInput {
  companyId: string;
  /** The date schedule's firing asks for a `dates` run; the sync schedule's asks nothing (see `sanitise`). */
  kind?: 'dates';
}

/**
 * How long the firing waits for the company workflow to answer. The worker running this activity
 * polls the same task queue, so an answer normally takes well under a second; past this the
 * attempt fails and is retried with the same key (one request, however many attempts), within
 * the firing's 30 minutes.
 */
export const FIRING_ANSWER_WITHIN_MS = 40_000;

/**
 * What a schedule firing does: a Temporal Schedule can only start workflows, so its tiny workflow
 * calls this activity, which sends the `requestSync` update (trigger `schedule`) to the company
 * workflow, starting that workflow if it is not running — the path operators' requests take, so
 * that a full queue fails the firing where it shows (the firing workflow fails) instead of being
 * dropped. The firing's workflow id is the request's key: an attempt retried after a lost answer
 * is the same request. A company that is gone, offboarded or being offboarded gets no request and
 * no workflow: the firing fails for good.
 */
export function createRequestCompanySync(deps: RequestCompanySyncDeps) {
  async function requestCompanySync({
    companyId,
    kind,
  }: RequestCompanySyncInput): Promise<{ workflowId: string; requestId: string }> {
    const { client, taskQueue } = requireTemporal(deps.temporal, 'requestCompanySync');
    const refusal = syncRefusal(await deps.repos.companies.get(companyId));
    if (refusal) {
      throw ApplicationFailure.create({
        type: failureType(refusal),
        message:
          refusal === 'offboarded'
            ? `Company ${companyId} is offboarded or being offboarded: the firing requests no sync and starts no workflow.`
            : `Company ${companyId} is not onboarded (no document in companies): the firing requests no sync.`,
        nonRetryable: true,
      });
    }
    const requestKey = Context.current().info.workflowExecution?.workflowId ?? randomUUID();
    try {
      const accepted = await requestSyncWithStart(
        client,
        taskQueue,
        companyId,
        { trigger: 'schedule', requestedBy: 'schedule', requestKey, ...(kind ? { kind } : {}) },
        { answerWithinMs: FIRING_ANSWER_WITHIN_MS },
      );
      return { workflowId: accepted.workflowId, requestId: accepted.requestId };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause;
        const queueFull = cause instanceof ApplicationFailure && cause.type === failureType('queue-full');
        throw ApplicationFailure.create({
          type: queueFull ? failureType('queue-full') : failureType('internal'),
          message: queueFull
            ? `The scheduled sync of ${companyId} was refused: ${cause.message}`
            : `The company workflow of ${companyId} failed the scheduled request (${cause instanceof Error ? cause.message : 'unknown'}).`,
          nonRetryable: true,
        });
      }
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw ApplicationFailure.create({
          type: failureType('internal'),
          message: `The company workflow of ${companyId} did not answer the scheduled request within ${FIRING_ANSWER_WITHIN_MS / 1000} s; retried with the same key.`,
          nonRetryable: false,
        });
      }
      throw err;
    }
  }

  return requestCompanySync;
}
