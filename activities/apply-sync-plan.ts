import { Context, log as activityLog } from '@temporalio/activity';
import type { ApplyCorrections, PlannedUpdate, WriteOutcome } from '../db/profiles-repository';
import { COUNTER_OF_ACTION } from '../domain/plan';
import type { PlannedChange, SyncCounts } from '../domain/types';
import { watchProgress } from './progress';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

/** Heartbeat details of the apply: where to resume. Positions and counts only. */
interface ApplyCheckpoint {
  /** The last plan chunk whose writes are all done (its `_id`), null before the first. */
  done: string | null;
  /** Profile writes of the chunks up to `done`. */
  writes: number;
  /** Updates gathered for the next batch. */
  pending: number;
  /** How the chunks up to `done` moved the planned counts: changes the store refused, now conflicts. */
  shifts: CountShifts;
}

/** What the apply found written: profile writes, and the run's counts as the store acknowledged them. */
export interface AppliedResult {
  profileWrites: number;
  /** Absent from runs recorded before the apply counted what was written. */
  counts?: SyncCounts;
}

/** Amounts to add to planned counts (negative to take away). */
type CountShifts = Partial<Record<keyof SyncCounts, number>>;

function addShifts(a: CountShifts, b: CountShifts): CountShifts {
  const sum: CountShifts = { ...a };
  for (const [key, n] of Object.entries(b) as [keyof SyncCounts, number][]) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

/** A planned change that became a conflict: out of its action's count, into the conflicts. */
const conflictShift = (change: PlannedChange): CountShifts =>
  addShifts({ [COUNTER_OF_ACTION[change.action]]: -1 }, { conflicts: 1 });

function applyShifts(counts: SyncCounts, shifts: CountShifts): SyncCounts {
  const moved = { ...counts };
  for (const [key, n] of Object.entries(shifts) as [keyof SyncCounts, number][]) moved[key] += n;
  return moved;
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
    const ctx = Context.current();
    const resumeFrom = applyPosition(ctx.info.heartbeatDetails);
    const describe = (c: ApplyCheckpoint) =>
      `after plan chunk ${c.done ?? 'none'} (${c.writes} profile writes so far, ${c.pending} updates gathered)`;
    // Written with the connection the run read with, and not at all once it has changed.
    const run = await repos.syncRuns.get(runId);
    const readWith = run?.connectionId ?? null;
    const tenant = (await loadCompany(companyId)).lucca.baseUrl;
    return watchProgress('Applying the plan', resumeFrom, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      const caps = await repos.profiles.capabilities();
      // What the chunks before `done` wrote and moved to conflicts; what the chunks after it have so far.
      let { done, writes, shifts } = resumeFrom;
      let flight = { writes: 0, shifts: {} as CountShifts };
      let pending: PlannedUpdate[] = [];
      let gathered = done;
      const checkpoint = () => watch.checkpoint({ done, writes, pending: pending.length, shifts });
      const commit = () => {
        done = gathered;
        writes += flight.writes;
        shifts = addShifts(shifts, flight.shifts);
        flight = { writes: 0, shifts: {} };
      };
      const corrections: ApplyCorrections = {
        rebased: (changes) => repos.syncChanges.correct(runId, companyId, changes),
      };
      const settle = async (outcome: WriteOutcome) => {
        flight.writes += outcome.written;
        if (outcome.refused.length === 0) return;
        await repos.syncChanges.correct(
          runId,
          companyId,
          outcome.refused.map((r) => r.conflict),
        );
        for (const { change } of outcome.refused) flight.shifts = addShifts(flight.shifts, conflictShift(change));
      };
      const updatePlainly = async (updates: readonly PlannedUpdate[]) => {
        for await (const outcome of repos.profiles.updateEach(companyId, updates, corrections)) {
          await settle(outcome);
          checkpoint();
        }
      };

      // A rewrite an earlier attempt journaled but may not have finished; its batch is gathered
      // and counted again below, from the checkpoint before it.
      await repos.workingData.completeRewrite(runId);
      const flush = async () => {
        if (pending.length >= caps.rewriteFrom) {
          const { entries, outcome } = await repos.profiles.readForRewrite(companyId, pending, corrections);
          await settle(outcome);
          checkpoint();
          await repos.workingData.journal(runId, entries);
          checkpoint();
          const rewritten = await repos.profiles.rewrite(entries);
          await repos.workingData.clearJournal(runId);
          flight.writes += rewritten.written;
          if (rewritten.beyondDeleted > 0) {
            activityLog.warn(
              'A rewrite inserted again profiles its delete had not removed (deleted by the platform meanwhile?)',
              {
                companyId,
                runId,
                profiles: rewritten.beyondDeleted,
              },
            );
          }
          const byId = new Map(pending.map((u) => [u._id.toHexString(), u]));
          const refused = rewritten.refused.map((e) => byId.get(e.after._id.toHexString())!);
          // A profile the platform changed after the read was not deleted: it is updated the plain
          // way, from what the platform wrote; a refused new version, one by one to learn why.
          await updatePlainly([...rewritten.left.map((id) => byId.get(id.toHexString())!), ...refused]);
        } else {
          await updatePlainly(pending);
        }
        pending = [];
        commit();
        checkpoint();
      };
      const connectionStill = async () =>
        checkConnection(await loadCompany(companyId), readWith, 'while this run was applying its plan', writes);
      // Links of another tenant hold ids this plan may give to its own users: gone before any write.
      if ((run?.otherTenantLinks ?? 0) > 0 && resumeFrom.done === null) {
        await connectionStill();
        writes += await repos.profiles.unlinkOtherTenants(companyId, tenant, now());
        checkpoint();
      }
      for await (const chunk of repos.workingData.readPlanChunks(runId, resumeFrom.done)) {
        await connectionStill();
        const { inserts, updates } = repos.profiles.plannedWrites(companyId, chunk.changes, now(), tenant);
        if (pending.length + updates.length > caps.maxDeletesPerCommand) await flush();
        if (inserts.length > 0) await settle(await repos.profiles.insertPlanned(companyId, inserts));
        pending.push(...updates);
        gathered = chunk._id;
        // Nothing of this chunk waits: resume after it.
        if (pending.length === 0) commit();
        checkpoint();
        if (!Number.isFinite(caps.rewriteFrom)) await flush();
      }
      if (pending.length > 0) {
        await connectionStill();
        await flush();
      }
      const recorded = await repos.syncRuns.get(runId);
      const planned = recorded?.plannedCounts ?? recorded?.counts;
      if (!planned) return { profileWrites: writes };
      const counts = applyShifts(planned, shifts);
      await repos.syncRuns.recordApplied(runId, counts);
      return { profileWrites: writes, counts };
    });
  }

  return applySyncPlan;
}

/** The apply's resume position; a checkpoint of another shape starts over (every write is idempotent). */
function applyPosition(details: unknown): ApplyCheckpoint {
  const c = details as Partial<ApplyCheckpoint> | undefined;
  if (c && (typeof c.done === 'string' || c.done === null) && typeof c.writes === 'number') {
    return { done: c.done, writes: c.writes, pending: 0, shifts: c.shifts ?? {} };
  }
  return { done: null, writes: 0, pending: 0, shifts: {} };
}
