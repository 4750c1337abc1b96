import { Context } from '@temporalio/activity';
import type { RunKind, SyncTrigger } from '../domain/types';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

export interface StartSyncRunInput extends SyncRunRef {
  trigger: SyncTrigger;
  requestedBy: string | null;
  dryRun: boolean;
  /** The request this run serves (the id `requestSync` answered). */
  requestId?: string;
  /** The blocked run this one overrides, when it is an operator's confirmation of it. */
  overrideOf?: string;
  /** Sent by workflows of earlier versions; ignored, as `overrideOf` says it all. */
  allowMassDeactivation?: boolean;
  /** What the run asks to read (absent from workflows of earlier versions: a full read). */
  kind?: RunKind;
  luccaUserId?: number;
}

/** Records the run's start (an upsert: the finish records it again when it was not confirmed). */
export function createStartSyncRun(deps: SyncActivityDeps) {
  const { repos, now } = runContext(deps);

  async function startSyncRun(input: StartSyncRunInput): Promise<void> {
    const info = Context.current().info;
    await repos.syncRuns.start({
      ...input,
      workflowId: info.workflowExecution?.workflowId ?? '',
      temporalRunId: info.workflowExecution?.runId ?? '',
      now: now(),
    });
  }

  return startSyncRun;
}
