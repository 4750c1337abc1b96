import { Context, log as activityLog } from '@temporalio/activity';
import type { ApplyCorrections, PlannedUpdate, WriteOutcome } from '../db/profiles-repository';
import type { PlanChunk } from '../db/run-working-data';
import type { SyncCounts } from '../domain/types';
import { ApplyTally, applyPosition, describeCheckpoint } from './apply-tally';
import { watchProgress } from './progress';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

/** What the apply found written: profile writes, and the run's counts as the store acknowledged them. */
export interface AppliedResult {
  profileWrites: number;
  /** Absent from runs recorded before the apply counted what was written. */
  counts?: SyncCounts;
}

export function createApplySyncPlan(deps: SyncActivityDeps) {
  const { repos, now, stallTimeoutMs, shutdown, loadCompany, checkConnection } = runContext(deps);

  /**
   * Applies the planned profile writes in plan order: each chunk's creates as it is read, the
   * updates gathered over chunks and written as a batch — one by one, or on a store where that
   * costs a scan each, rewritten together (see `StoreCapabilities.rewriteFrom`), journaled first.
   * Resumes after the last chunk whose writes were all done; every write is idempotent.
   *
   * What the store did is what the run reports: a create or update it refused, or whose profile
   * was gone, becomes a conflict in the report and in the counts; an update of a profile the
   * platform changed since the plan is written from what it holds now, its record saying so. The
   * run's counts are recorded as acknowledged when the apply ends, and returned.
   */
  async function applySyncPlan({ companyId, runId }: SyncRunRef): Promise<AppliedResult> {
    const resumeFrom = applyPosition(Context.current().info.heartbeatDetails);
    // Written with the connection the run read with, and not at all once it has changed.
    const run = await repos.syncRuns.get(runId);
    const readWith = run?.connectionId ?? null;
    const tenant = (await loadCompany(companyId)).lucca.baseUrl;
    const opts = { stallTimeoutMs, describe: describeCheckpoint, shutdown };
    return watchProgress('Applying the plan', resumeFrom, opts, async (watch) => {
      const caps = await repos.profiles.capabilities();
      const tally = new ApplyTally(resumeFrom, watch);
      const corrections: ApplyCorrections = {
        rebased: (changes) => repos.syncChanges.correct(runId, companyId, changes),
      };

      /** Counts what the store did; what it refused becomes a conflict in the report. */
      const settle = async (outcome: WriteOutcome) => {
        tally.wrote(outcome.written);
        if (outcome.refused.length === 0) return;
        await repos.syncChanges.correct(
          runId,
          companyId,
          outcome.refused.map((r) => r.conflict),
        );
        tally.refused(outcome.refused.map((r) => r.change));
      };

      const updateOneByOne = async (updates: readonly PlannedUpdate[]) => {
        for await (const outcome of repos.profiles.updateEach(companyId, updates, corrections)) {
          await settle(outcome);
          tally.checkpoint();
        }
      };

      /**
       * The batch deleted and inserted again in a few commands, journaled first so a retry can finish
       * it. Updates planned with their whole profile are judged and deleted from it (`asPlanned`):
       * one pass of the store fewer, and a profile changed since then is left by the delete.
       */
      const rewriteTogether = async (updates: readonly PlannedUpdate[], asPlanned = true) => {
        const { entries, outcome } = await repos.profiles.readForRewrite(companyId, updates, corrections, {
          asPlanned,
        });
        await settle(outcome);
        tally.checkpoint();
        await repos.workingData.journal(runId, entries);
        tally.checkpoint();
        const rewritten = await repos.profiles.rewrite(entries);
        await repos.workingData.clearJournal(runId);
        tally.wrote(rewritten.written);
        if (rewritten.beyondDeleted > 0) {
          activityLog.warn(
            'A rewrite inserted again profiles its delete had not removed (deleted by the platform meanwhile?)',
            { companyId, runId, profiles: rewritten.beyondDeleted },
          );
        }
        const byId = new Map(updates.map((u) => [u._id.toHexString(), u]));
        const refused = rewritten.refused.map((e) => byId.get(e.after._id.toHexString())!);
        const left = rewritten.left.map((id) => byId.get(id.toHexString())!);
        // A profile the platform changed after the read was not deleted: it is updated the plain
        // way, from what the platform wrote — or, when many changed since the plan read them (a
        // blocked run applied later), rewritten again from the profiles as they are now.
        const again = asPlanned && left.length >= caps.rewriteFrom;
        if (again) await rewriteTogether(left, false);
        // A refused new version, one by one to learn why.
        await updateOneByOne(again ? refused : [...left, ...refused]);
      };

      const writeGathered = async () => {
        if (tally.pending.length >= caps.rewriteFrom) await rewriteTogether(tally.pending);
        else await updateOneByOne(tally.pending);
        tally.batchWritten();
        tally.checkpoint();
      };

      /** Creates at once; updates gathered until the next one would not fit in one batch. */
      const applyChunk = async (chunk: PlanChunk) => {
        const { inserts, updates } = repos.profiles.plannedWrites(companyId, chunk.changes, now(), tenant);
        if (tally.pending.length + updates.length > caps.maxDeletesPerCommand) await writeGathered();
        if (inserts.length > 0) await settle(await repos.profiles.insertPlanned(companyId, inserts));
        tally.gather(chunk._id, updates);
        tally.checkpoint();
        if (!Number.isFinite(caps.rewriteFrom)) await writeGathered();
      };

      const connectionStill = async () =>
        checkConnection(await loadCompany(companyId), readWith, 'while this run was applying its plan', tally.writes);

      // A rewrite an earlier attempt journaled but may not have finished; its batch is gathered
      // and counted again below, from the checkpoint before it.
      await repos.workingData.completeRewrite(runId);
      // Links of another tenant hold ids this plan may give to its own users: gone before any write.
      if ((run?.otherTenantLinks ?? 0) > 0 && resumeFrom.done === null) {
        await connectionStill();
        tally.writes += await repos.profiles.unlinkOtherTenants(companyId, tenant, now());
        tally.checkpoint();
      }
      // The next chunk is read while this one is written: the store answers one while it writes
      // the other (a 100,000-create apply waited 5.5 s for its reads one after the other).
      const chunks = repos.workingData.readPlanChunks(runId, resumeFrom.done);
      const readAhead = () => {
        const read = chunks.next();
        read.catch(() => undefined); // seen at its await; unheard of if a write fails first
        return read;
      };
      try {
        let next = readAhead();
        for (;;) {
          const [read] = await Promise.all([next, connectionStill()]);
          if (read.done) break;
          next = readAhead();
          await applyChunk(read.value);
        }
      } finally {
        // Closes the cursor once a read still in flight ends; a stuck read must not hold the failure.
        void chunks.return(undefined).catch(() => undefined);
      }
      // The loop's last turn checked the connection, with the read that found no chunk left.
      if (tally.pending.length > 0) await writeGathered();
      return recordAcknowledgedCounts(runId, tally);
    });
  }

  /** The run's planned counts, moved by what the store refused, recorded as what was applied. */
  async function recordAcknowledgedCounts(runId: string, tally: ApplyTally): Promise<AppliedResult> {
    const recorded = await repos.syncRuns.get(runId);
    const planned = recorded?.plannedCounts ?? recorded?.counts;
    if (!planned) return { profileWrites: tally.writes };
    const counts = tally.countsFrom(planned);
    await repos.syncRuns.recordApplied(runId, counts);
    return { profileWrites: tally.writes, counts };
  }

  return applySyncPlan;
}
