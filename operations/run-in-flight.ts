import { WorkflowNotFoundError } from '@temporalio/common';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';
import { queryCompanyStatus } from './sync';

/** How long a connection change waits for Temporal to say whether a run of the company is in flight. */
export const IN_FLIGHT_CHECK_DEADLINE_MS = 5_000;

/**
 * Refuses a connection change while a run of the company is running or queued: its data would
 * come from one connection and its writes go under another. Known from two sources, each asked
 * with a deadline: the run documents marked `running` whose run workflow Temporal says is running
 * (a document left by a workflow that is gone is the sweeper's), and the company workflow's
 * `status` query (current run, pending requests). The query needs a worker; when none answers
 * within its deadline the change goes ahead on the run documents alone — a queued run reads the
 * connection when it starts, and one that read the old connection writes nothing (its apply
 * checks the stamp: `connection-changed`).
 */
export async function refuseWhileRunInFlight(deps: OperationsDeps, companyId: string): Promise<void> {
  const refuse = (what: string) =>
    new OperationError(
      'run-in-flight',
      `Company "${companyId}" has ${what}: changing its Lucca connection now would mix what that run reads ` +
        `with the new connection. Nothing was changed. Wait for it to end (\`npm run cli -- status --company ${companyId}\`), ` +
        `then onboard again.`,
    );
  for (const run of await deps.repos.syncRuns.runningOf(companyId)) {
    const handle = deps.client.workflow.getHandle(run.workflowId);
    try {
      const described = await deps.client.connection.withDeadline(Date.now() + IN_FLIGHT_CHECK_DEADLINE_MS, () =>
        handle.describe(),
      );
      if (described.status.name === 'RUNNING') throw refuse(`a sync run in flight (run ${run._id})`);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue;
      if (err instanceof OperationError) throw err;
      throw new OperationError(
        'run-in-flight',
        `Temporal did not say within ${IN_FLIGHT_CHECK_DEADLINE_MS / 1000} s whether run ${run._id} of "${companyId}" is still ` +
          `running, so its Lucca connection was not changed. Check that Temporal answers, then onboard again.`,
      );
    }
  }
  const status = await queryCompanyStatus(deps.client, companyId, IN_FLIGHT_CHECK_DEADLINE_MS);
  if (status?.current) throw refuse(`a sync run in flight (run ${status.current.runId})`);
  if (status && status.pending.length > 0) {
    throw refuse(`${status.pending.length === 1 ? 'a sync request' : `${status.pending.length} sync requests`} queued`);
  }
}
