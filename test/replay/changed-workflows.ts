/**
 * The sync-run workflow as a careless change would leave it: it calls an activity the recorded
 * histories never scheduled before the ones they did. Replaying a real history against it must
 * fail — the proof that the replay test can catch a change that breaks running workflows.
 */
import { proxyActivities } from '@temporalio/workflow';

const { startSyncRun } = proxyActivities<{ startSyncRun(input: unknown): Promise<void> }>({
  startToCloseTimeout: '30 seconds',
});
const { checkLuccaFirst } = proxyActivities<{ checkLuccaFirst(): Promise<void> }>({
  startToCloseTimeout: '30 seconds',
});

export async function syncRunWorkflow(input: unknown): Promise<void> {
  await checkLuccaFirst();
  await startSyncRun(input);
}
