import { Context } from '@temporalio/activity';
import type { SyncRunStatus } from '../db/sync-runs-repository';
import type { RunError } from '../domain/failures';
import { recordFinishedRun } from './metrics';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

export interface FinishInput extends SyncRunRef {
  status: Exclude<SyncRunStatus, 'running'>;
  error: RunError | null;
  profileWrites: number;
}

/** Records how the run ended, then completes or drops its working data. */
export function createFinishSyncRun(deps: SyncActivityDeps) {
  const { repos, now } = runContext(deps);

  async function finishSyncRun(input: FinishInput): Promise<void> {
    const finishedAt = now();
    const run = await repos.syncRuns.get(input.runId);
    await repos.syncRuns.finish(input.runId, input, finishedAt);
    // This run is now the company's latest: no earlier blocked run can be applied anyway any more.
    await repos.reviewed.dropOthers(input.companyId, input.status === 'blocked' ? input.runId : undefined);
    // Counted once: a retried finish finds the run closed already.
    if (run?.status === 'running') {
      recordFinishedRun(Context.current().metricMeter, { run, status: input.status, error: input.error, finishedAt });
    }
    // An apply that gave up in the middle of a rewrite leaves profiles only in its journal.
    await repos.workingData.closeRun(input.runId);
  }

  return finishSyncRun;
}
