import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { ABANDONED_RUN_GRACE_MS, sweepSyncData, type SweepResult } from '../../activities/sweep';
import type { ProfileDocument } from '../../db/profiles-repository';
import { storeCapabilities } from '../../db/store-capabilities';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunStatus } from '../../db/sync-runs-repository';
import { ensureSweepSchedule } from '../../operations/sweeper';
import { syncRunWorkflow } from '../../workflows';
import { sweepScheduleId, syncRunWorkflowId } from '../../temporal/ids';
import { openStack, uniqueSuffix, type Stack } from './helpers';
import { startWorker, until } from './sync-kit';

const DAY_MS = 24 * 3600_000;

/** A run id as the company workflow makes them (`newRunId`): the UTC time it started, then 8 hex digits. */
function runIdAt(time: Date): string {
  const iso = time.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${uniqueSuffix()}`;
}

describe('the sweeper, on the real stack', () => {
  let stack: Stack;
  /** "Now" for the sweeps of this file; the runs are dated against it. */
  const now = new Date();
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const workflowsToEnd: string[] = [];

  before(async () => {
    stack = await openStack('sweeper');
  });

  after(async () => {
    for (const id of workflowsToEnd) {
      await stack.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
    await stack.close();
  });

  const sweep = (changesRetentionDays = 365, progress?: (sofar: SweepResult) => void): Promise<SweepResult> =>
    sweepSyncData({ repos: stack.repos, client: stack.client, now: () => now, changesRetentionDays, progress });

  /** A run document as the run's workflow writes it, started at `startedAt`, finished unless `running`. */
  async function addRun(opts: {
    companyId: string;
    runId?: string;
    startedAt: Date;
    status?: SyncRunStatus;
    workflowId?: string;
  }): Promise<string> {
    const runId = opts.runId ?? runIdAt(opts.startedAt);
    await stack.repos.syncRuns.start({
      runId,
      companyId: opts.companyId,
      trigger: 'manual',
      requestedBy: 'test',
      dryRun: false,
      workflowId: opts.workflowId ?? syncRunWorkflowId(opts.companyId, runId),
      temporalRunId: '',
      now: opts.startedAt,
    });
    const status = opts.status ?? 'succeeded';
    if (status !== 'running') {
      await stack.repos.syncRuns.finish(runId, { status, error: null, profileWrites: 0 }, opts.startedAt);
    }
    return runId;
  }

  /** What a run leaves while it works: a staged page and a plan chunk. */
  async function addWorkingData(runId: string): Promise<void> {
    await stack.repos.workingData.stagePage(runId, 0, 0, []);
    await stack.repos.workingData.storePlanSlot(runId, 0, [
      { action: 'skip', luccaUserId: 1, reasons: [], profileId: new ObjectId().toHexString() },
    ]);
  }

  async function workingCollections(runId: string): Promise<string[]> {
    const names = (await stack.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    return ['syncStaging', 'syncPlan', 'syncJournal'].map((p) => `${p}.${runId}`).filter((n) => names.includes(n));
  }

  /** A sync-run workflow Temporal reports as running: its task queue has no worker, so it never moves. */
  async function idleRunWorkflow(companyId: string, runId: string): Promise<string> {
    const workflowId = syncRunWorkflowId(companyId, runId);
    await stack.client.workflow.start(syncRunWorkflow, {
      taskQueue: `${stack.taskQueue}-idle`,
      workflowId,
      args: [{ companyId, runId, trigger: 'manual', requestedBy: 'test', dryRun: false }],
    });
    workflowsToEnd.push(workflowId);
    return workflowId;
  }

  test('a run left running by a workflow that is gone is closed as failed (abandoned) and its staging dropped; a run whose workflow runs is left alone', async () => {
    const companyId = `sw-${uniqueSuffix()}`;
    // Terminated in Temporal (what offboarding used to do) ten grace periods ago.
    const terminatedAt = ago(10 * ABANDONED_RUN_GRACE_MS);
    const terminated = runIdAt(terminatedAt);
    await stack.client.workflow
      .getHandle(await idleRunWorkflow(companyId, terminated))
      .terminate('killed for the test');
    await addRun({ companyId, runId: terminated, startedAt: terminatedAt, status: 'running' });
    // A workflow Temporal does not know at all (its history expired, or another namespace).
    const lost = await addRun({ companyId, startedAt: ago(2 * DAY_MS), status: 'running' });
    // Within the grace period: left for the next sweep.
    const young = await addRun({ companyId, startedAt: ago(ABANDONED_RUN_GRACE_MS / 2), status: 'running' });
    // Genuinely running (Temporal says so), however old.
    const aliveId = runIdAt(ago(2 * DAY_MS));
    await idleRunWorkflow(companyId, aliveId);
    const alive = await addRun({ companyId, runId: aliveId, startedAt: ago(2 * DAY_MS), status: 'running' });
    for (const runId of [terminated, lost, young, alive]) await addWorkingData(runId);

    const result = await sweep();

    for (const runId of [terminated, lost]) {
      const run = (await stack.repos.syncRuns.get(runId))!;
      assert.equal(run.status, 'failed', runId);
      assert.equal(run.error?.code, 'abandoned');
      assert.match(run.error?.message ?? '', /workflow ended without finishing the run/);
      assert.deepEqual(run.finishedAt, now);
      assert.deepEqual(await workingCollections(runId), [], `${runId}: staging and plan dropped`);
    }
    for (const runId of [young, alive]) {
      assert.equal((await stack.repos.syncRuns.get(runId))!.status, 'running', runId);
      assert.deepEqual(await workingCollections(runId), [`syncStaging.${runId}`, `syncPlan.${runId}`], runId);
    }
    assert.equal(result.runsClosed, 2);
    assert.equal((await sweep()).runsClosed, 0, 'a second sweep finds nothing more to close');
  });

  test('working data is dropped when its run is over, or a day after a run that left no document; a journaled rewrite is completed only when nothing can have written since', async () => {
    const companyId = `sw-${uniqueSuffix()}`;
    const finished = await addRun({ companyId, startedAt: ago(3600_000), status: 'failed' });
    const orphanOld = runIdAt(ago(2 * DAY_MS));
    const orphanNew = runIdAt(ago(3600_000));
    for (const runId of [finished, orphanOld, orphanNew]) await addWorkingData(runId);

    // A run that stopped inside a rewrite: the profile deleted, its new version only in the journal;
    // the company has not synced since.
    const journaling = `sw-${uniqueSuffix()}`;
    const profile = (firstName: string): ProfileDocument => ({
      _id: new ObjectId(),
      companyId: journaling,
      firstName,
      lastName: 'Lefèvre',
      email: `${firstName.toLowerCase()}@acme.example`,
      birthDate: null,
      contractStart: '2020-01-06',
      contractEnd: null,
      status: 'active',
      createdAt: now,
      updatedAt: now,
    });
    const journaled = { ...profile('Camille'), firstName: 'Camille-Rose' };
    await addRun({ companyId: journaling, startedAt: ago(3 * 3600_000), status: 'succeeded' });
    const latest = await addRun({ companyId: journaling, startedAt: ago(2 * 3600_000), status: 'failed' });
    await addWorkingData(latest);
    await stack.repos.workingData.journal(latest, [
      { before: { ...journaled, firstName: 'Camille' }, after: journaled },
    ]);

    // The same, in a company that has synced again since: its journal may be older than the profiles.
    const other = `sw-${uniqueSuffix()}`;
    const superseded = await addRun({ companyId: other, startedAt: ago(5 * 3600_000), status: 'failed' });
    await addRun({ companyId: other, startedAt: ago(4 * 3600_000), status: 'succeeded' });
    const written = { ...profile('Noé'), companyId: other };
    await stack.store.profiles.insertOne({ ...written, firstName: 'Noé-Later' });
    await addWorkingData(superseded);
    await stack.repos.workingData.journal(superseded, [
      { before: written, after: { ...written, firstName: 'Noé-Old' } },
    ]);

    const result = await sweep();

    assert.deepEqual(await workingCollections(finished), [], 'a finished run’s staging is dropped');
    assert.deepEqual(await workingCollections(orphanOld), [], 'an orphan a day old is dropped');
    assert.deepEqual(
      await workingCollections(orphanNew),
      [`syncStaging.${orphanNew}`, `syncPlan.${orphanNew}`],
      'an orphan younger than a day is left',
    );
    assert.deepEqual(await workingCollections(latest), []);
    assert.equal(
      (await stack.store.profiles.findOne({ _id: journaled._id }))?.firstName,
      'Camille-Rose',
      'the journaled rewrite was completed: the profile is back, as the run meant it',
    );
    assert.deepEqual(await workingCollections(superseded), [`syncJournal.${superseded}`], 'only the journal is kept');
    assert.equal(
      (await stack.store.profiles.findOne({ _id: written._id }))?.firstName,
      'Noé-Later',
      'what the later run wrote is not undone',
    );
    assert.equal(result.rewritesCompleted, 1);
    assert.equal(result.journalsKept, 1);
  });

  test('change records past the retention period are removed run by run, past the store’s delete cap, and newer ones kept with every run document', async () => {
    const companyId = `sw-${uniqueSuffix()}`;
    // FerretDB's SQLite backend refuses one delete of more than 32,766 documents: a run past that.
    const big = 33_000;
    const expired = await addRun({ companyId, startedAt: ago(400 * DAY_MS) });
    const justExpired = await addRun({ companyId, startedAt: ago(366 * DAY_MS) });
    const kept = await addRun({ companyId, startedAt: ago(364 * DAY_MS) });
    const recent = await addRun({ companyId, startedAt: ago(10 * DAY_MS) });
    const change = (runId: string, seq: number) =>
      toChangeDocument(runId, companyId, seq, { action: 'skip', luccaUserId: seq, reasons: [] });
    for (let from = 0; from < big; from += 5_000) {
      const docs = [];
      for (let seq = from; seq < Math.min(from + 5_000, big); seq++) docs.push(change(expired, seq));
      await stack.repos.syncChanges.insertMany(docs);
    }
    for (const runId of [justExpired, kept, recent]) {
      await stack.repos.syncChanges.insertMany([0, 1, 2].map((seq) => change(runId, seq)));
    }
    const countOf = (runId: string) => stack.store.syncChanges.countDocuments({ runId });
    assert.equal(await countOf(expired), big);

    const heartbeats: SweepResult[] = [];
    const result = await sweep(365, (sofar) => heartbeats.push(sofar));

    assert.equal(result.changesExpired, 2);
    assert.equal(result.changeRecordsRemoved, big + 3);
    // The big run's records go a delete command at a time (past the store's cap), each heartbeated.
    const { maxDeletesPerCommand } = await storeCapabilities(stack.db);
    const commands = Number.isFinite(maxDeletesPerCommand) ? Math.ceil(big / maxDeletesPerCommand) : 1;
    const whileDeletingBig = heartbeats.filter((h) => h.changesExpired === 0 && (h.changeRecordsRemoved ?? 0) > 0);
    assert.equal(whileDeletingBig.length, commands, JSON.stringify(heartbeats));
    assert.equal(whileDeletingBig.at(-1)?.changeRecordsRemoved, big);
    assert.equal(await countOf(expired), 0);
    assert.equal(await countOf(justExpired), 0);
    assert.equal(await countOf(kept), 3);
    assert.equal(await countOf(recent), 3);
    for (const runId of [expired, justExpired]) {
      const run = (await stack.repos.syncRuns.get(runId))!;
      assert.deepEqual(run.changesExpiredAt, now, 'the run document is kept, saying when its changes went');
    }
    assert.equal((await stack.repos.syncRuns.get(kept))!.changesExpiredAt, undefined);
    assert.equal((await sweep(365)).changesExpired, 0, 'nothing is done twice');

    // The period is a setting: a shorter one reaches the newer runs.
    assert.equal((await sweep(30)).changesExpired, 1);
    assert.equal(await countOf(kept), 0);
    assert.equal(await countOf(recent), 3);
  });

  test("every worker makes sure its task queue's sweeper schedule exists, and a firing sweeps with the worker's settings", async () => {
    const taskQueue = `${stack.taskQueue}-sweeper`;
    const scheduleHandle = stack.client.schedule.getHandle(sweepScheduleId(taskQueue));
    const worker = await startWorker(stack, taskQueue, {
      temporal: { client: stack.client, taskQueue },
      now: () => now,
      changesRetentionDays: 5,
    });
    try {
      assert.equal(await ensureSweepSchedule(stack.client, taskQueue), 'created');
      assert.equal(await ensureSweepSchedule(stack.client, taskQueue), 'updated', 'a second worker finds it');
      const description = await scheduleHandle.describe();
      assert.equal(description.policies.overlap, 'SKIP');
      assert.equal(description.action.type, 'startWorkflow');

      const companyId = `sw-${uniqueSuffix()}`;
      const finished = await addRun({ companyId, startedAt: ago(10 * DAY_MS) });
      await addWorkingData(finished);
      await stack.repos.syncChanges.insertMany([
        toChangeDocument(finished, companyId, 0, { action: 'skip', luccaUserId: 1, reasons: [] }),
      ]);

      await scheduleHandle.trigger();
      const firing = await until('the sweep workflow to start', async () => {
        const action = (await scheduleHandle.describe()).info.recentActions[0];
        return action?.action.type === 'startWorkflow' ? action.action.workflow.workflowId : undefined;
      });
      const result = (await stack.client.workflow.getHandle(firing).result()) as SweepResult;

      assert.ok(result.workingDataRemoved >= 1);
      assert.ok(result.changesExpired >= 1, 'the worker’s retention (5 days) applies');
      assert.deepEqual(await workingCollections(finished), []);
      assert.equal(await stack.store.syncChanges.countDocuments({ runId: finished }), 0);
    } finally {
      await scheduleHandle.delete().catch(() => undefined);
      await worker.stop();
    }
  });
});
