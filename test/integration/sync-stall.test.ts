import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { syncRunWorkflowId } from '../../temporal/ids';
import { FAKE_LUCCA_HOSTS, openStack, type Stack } from './helpers';
import { addTestCompany, profilesOf, runSync, staff, startWorker, type RunningWorker } from './sync-kit';

/** The activity attempts of one run, by activity type: attempt number and the previous attempt's failure. */
async function attemptsOf(stack: Stack, companyId: string, runId: string) {
  const history = await stack.client.workflow.getHandle(syncRunWorkflowId(companyId, runId)).fetchHistory();
  const typeByScheduledId = new Map<string, string>();
  const attempts: { activity: string; attempt: number; lastFailure: string | null }[] = [];
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeByScheduledId.set(String(event.eventId), scheduled.activityType?.name ?? '');
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      attempts.push({
        activity: typeByScheduledId.get(String(started.scheduledEventId)) ?? '',
        attempt: started.attempt ?? 1,
        lastFailure: started.lastFailure?.message ?? null,
      });
    }
  }
  return attempts;
}

describe('a stalled activity fails and is retried instead of hanging', () => {
  let stack: Stack;
  let worker: RunningWorker;
  // Far above what reading a page of ten users takes, even on two busy cores.
  const STALL_MS = 3_000;

  before(async () => {
    stack = await openStack('stall');
    // Lucca's own timeout is far longer than the stall limit: only the stall watch can end the wait.
    worker = await startWorker(stack, stack.taskQueue, {
      stallTimeoutMs: STALL_MS,
      lucca: { timeoutMs: 60_000, rateLimit: null, pageSize: 10, allowedHosts: FAKE_LUCCA_HOSTS },
    });
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  test('a Lucca page that never comes fails the read attempt, saying where, and the retry resumes there', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(30));
    // The second page is asked from offset 9 (one user of overlap); its first answer would take ten stall limits.
    stack.lucca.addFault({ tenant, kind: 'slow', delayMs: 10 * STALL_MS, whenOffset: 9, times: 1 });

    const run = await runSync(stack, stack.taskQueue, companyId);

    assert.equal(run.status, 'succeeded');
    assert.equal(run.counts?.created, 30);
    assert.equal((await profilesOf(stack, companyId)).length, 30);
    const reads = (await attemptsOf(stack, companyId, run.runId)).filter((a) => a.activity === 'fetchLuccaUsers');
    assert.equal(reads.length, 1, 'one read activity, completed by its second attempt');
    assert.equal(reads[0]?.attempt, 2);
    assert.match(
      reads[0]?.lastFailure ?? '',
      /Reading Lucca made no progress for \d+ s and was stopped at page 2 \(Lucca offset 10\)/,
    );
    const firstPageReads = stack.lucca.requests(tenant).filter((r) => r.query.paging === '0,10');
    assert.equal(firstPageReads.length, 1, 'the retry resumed from its checkpoint, not from the first page');
  });
});
