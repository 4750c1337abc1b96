import { Context, log as activityLog } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { decryptApiKey, type Keyring } from '../db/api-key-cipher';
import type { ApplyCorrections, PlannedUpdate, WriteOutcome } from '../db/profiles-repository';
import type { Repositories } from '../db/mongo';
import type { CompanyDocument } from '../db/companies-repository';
import type { SyncRunStatus } from '../db/sync-runs-repository';
import { failureType, type RunError } from '../domain/failures';
import type { GuardCeiling, GuardReview } from '../domain/guards';
import { mapLuccaUser } from '../domain/map-lucca-user';
import { COUNTER_OF_ACTION } from '../domain/plan';
import type { PlannedChange, SyncCounts, SyncTrigger } from '../domain/types';
import {
  isAllowedLuccaUrl,
  LuccaClient,
  LUCCA_PAGE_SIZE,
  START_OF_USERS,
  type UsersPagingPosition,
} from '../lucca/client';
import { limiterFor } from '../lucca/rate-limiter';
import { luccaRequestCounter, recordFinishedRun } from './metrics';
import { DEFAULT_STALL_TIMEOUT_MS, watchProgress, type ShutdownNotice } from './progress';
import { RunPlan, type OverrideOutcome, type PlanResult, type PlanStep } from './run-plan';

export interface SyncActivityDeps {
  repos: Repositories;
  /** The secrets of LUCCA_SYNC_SECRET(S): decrypt the company's API key inside the activity, never outside. */
  keyring: Keyring;
  lucca: {
    timeoutMs: number;
    rateLimit: { limit: number; windowMs: number } | null;
    pageSize?: number;
    /** LUCCA_MAX_PAGE_BYTES; default the client's. */
    maxPageBytes?: number;
    /** LUCCA_ALLOWED_HOSTS: checked again before the key is sent, whatever the stored URL says. */
    allowedHosts: readonly string[];
  };
  now?: () => Date;
  /** How long an activity may go without progress before its attempt fails and is retried. */
  stallTimeoutMs?: number;
  /** The worker process's shutdown (SIGTERM): the read and the apply stop at their next checkpoint. */
  shutdown?: ShutdownNotice;
}

export interface SyncRunRef {
  companyId: string;
  runId: string;
}

export interface StartSyncRunInput extends SyncRunRef {
  trigger: SyncTrigger;
  requestedBy: string | null;
  dryRun: boolean;
  allowMassDeactivation: boolean;
  /** The request this run serves (the id `requestSync` answered). */
  requestId?: string;
  /** The blocked run this one overrides, when it is an operator's confirmation of it. */
  overrideOf?: string;
}

export interface ReadInput extends SyncRunRef {
  /**
   * Ignored, as are `overrideCeilings` (older workflows send them): a run lifts a guard only as the
   * override of the blocked run its document names (`overrideOf`), whose reviewed changes are in
   * MongoDB — a bare `allowMassDeactivation` lifts nothing.
   */
  allowMassDeactivation?: boolean;
  overrideCeilings?: GuardCeiling[];
}

export interface ReadResult {
  pagesRead: number;
  usersRead: number;
  /** False when Lucca's data moved under the read: absence from it then proves nothing. */
  removalsSafe: boolean;
  /**
   * The run's plan, made while reading. Absent from runs recorded before the read planned: their
   * workflow plans the staged pages with `planSync`.
   */
  plan?: PlanResult;
}

export interface PlanInput extends SyncRunRef {
  /** Ignored, as in `ReadInput`. */
  allowMassDeactivation: boolean;
  /** Plan `removed-from-lucca` deactivations; off when the read saw data move. Default true. */
  detectRemovals?: boolean;
}

export interface FinishInput extends SyncRunRef {
  status: Exclude<SyncRunStatus, 'running'>;
  error: RunError | null;
  profileWrites: number;
}

/** Heartbeat details of the read: where to resume it, and how far its plan got. Positions and counts only. */
interface ReadCheckpoint {
  read: UsersPagingPosition;
  step: PlanStep;
  done: number;
}

/** Heartbeat details of `planSync`: how far it got. Counts only. */
interface PlanCheckpoint {
  step: PlanStep;
  done: number;
}

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

/** Pages the read may stage ahead of the plan (held in memory until planned); a test reads 24 pages ahead of it. */
const PAGES_AHEAD = 2;

export function createSyncActivities(deps: SyncActivityDeps) {
  const { repos } = deps;
  const now = deps.now ?? (() => new Date());
  const stallTimeoutMs = deps.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const { shutdown } = deps;

  async function loadCompany(companyId: string) {
    const company = await repos.companies.get(companyId);
    if (!company) {
      throw ApplicationFailure.create({
        type: failureType('company-not-found'),
        message: `Company ${companyId} is not onboarded (no document in companies).`,
        nonRetryable: true,
      });
    }
    return company;
  }

  /**
   * The connection stamp the run reads with, recorded by its first read attempt; a later attempt
   * (or the apply) whose company no longer has that stamp must not go on with what was read.
   */
  function checkConnection(company: CompanyDocument, readWith: string | null, when: string, writes = 0): void {
    if ((company.lucca.connectionId ?? null) === readWith) return;
    throw ApplicationFailure.create({
      type: failureType('connection-changed'),
      message:
        `The Lucca connection of company ${company._id} (URL or key) changed ${when}; the run had read with ` +
        `the previous one, so ${writes === 0 ? 'nothing was written' : `it stopped after ${writes} profile writes`}. ` +
        `The next run reads with the new connection.`,
      nonRetryable: true,
    });
  }

  /**
   * An operator's override, checked when the run starts: the blocked run it names must still be its
   * company's latest finished run, still blocked, read with the same connection, and its reviewed
   * changes kept. Otherwise the override lifts nothing (the run says why if it is blocked).
   */
  async function resolveOverride(
    company: CompanyDocument,
    runId: string,
  ): Promise<{ review: GuardReview | null; override?: OverrideOutcome }> {
    const of = (await repos.syncRuns.get(runId))?.overrideOf;
    if (!of) return { review: null };
    const refuse = (refused: string) => ({ review: null, override: { of, refused } });
    const blocked = await repos.syncRuns.get(of);
    if (!blocked || blocked.companyId !== company._id || blocked.status !== 'blocked') {
      return refuse(`it is not a blocked run of company ${company._id}.`);
    }
    const latest = await repos.syncRuns.latestFinished(company._id, runId);
    if (latest?._id !== of) {
      return refuse(`run ${latest?._id ?? '?'} ended after it; review the latest run before applying it anyway.`);
    }
    if ((blocked.connectionId ?? null) !== (company.lucca.connectionId ?? null)) {
      return refuse("the company's Lucca connection changed since it was read.");
    }
    const people = await repos.reviewed.read(company._id, of);
    if (!people) return refuse('its reviewed changes are not kept (it was blocked by an earlier version).');
    return { review: { blockedRunId: of, people }, override: { of } };
  }

  async function startSyncRun(input: StartSyncRunInput): Promise<void> {
    const info = Context.current().info;
    await repos.syncRuns.start({
      ...input,
      workflowId: info.workflowExecution?.workflowId ?? '',
      temporalRunId: info.workflowExecution?.runId ?? '',
      now: now(),
    });
  }

  /**
   * Reads every Lucca user of the company, a page at a time, into the run's staging (a document
   * per page) and plans each page as it comes, so that under Lucca's rate limit the planning is
   * done in the waits between requests; then completes the plan (see `RunPlan.finish`). Resumes
   * from the last heartbeated position when retried: the pages staged before it are planned again
   * from their copies, not read again, and a page read again replaces its copy.
   */
  async function fetchLuccaUsers({ companyId, runId }: ReadInput): Promise<ReadResult> {
    const ctx = Context.current();
    const company = await loadCompany(companyId);
    if (!company.lucca.apiKey) {
      throw ApplicationFailure.create({
        type: failureType('lucca-auth'),
        message: `Company ${companyId} has no Lucca API key (offboarded?). Run onboard again with a key from the company's Lucca admin.`,
        nonRetryable: true,
      });
    }
    const readWith = await repos.syncRuns.recordConnection(runId, company.lucca.connectionId ?? null);
    checkConnection(company, readWith, 'since this run started reading');
    const { review, override } = await resolveOverride(company, runId);
    const resumeFrom = readPosition(ctx.info.heartbeatDetails);
    const start: ReadCheckpoint = { read: resumeFrom, step: 'profiles', done: 0 };
    const describe = (c: ReadCheckpoint) =>
      `page ${c.read.page + 1} (Lucca offset ${c.read.offset})` +
      (c.step === 'pages' ? '' : ` while planning (${c.step}, ${c.done} done)`);
    const baseUrl = company.lucca.baseUrl;
    if (!isAllowedLuccaUrl(baseUrl, deps.lucca.allowedHosts)) {
      throw ApplicationFailure.create({
        type: failureType('configuration'),
        message: `Company ${companyId}'s Lucca URL ${baseUrl} is not a Lucca host this worker may send a key to (LUCCA_ALLOWED_HOSTS); nothing was sent. Onboard the company again with its Lucca URL.`,
        nonRetryable: true,
      });
    }
    const apiKey = decryptApiKey(deps.keyring, { companyId, baseUrl }, company.lucca.apiKey);
    const client = new LuccaClient({
      baseUrl,
      apiKey,
      timeoutMs: deps.lucca.timeoutMs,
      maxPageBytes: deps.lucca.maxPageBytes,
      limiter: deps.lucca.rateLimit ? limiterFor(baseUrl, deps.lucca.rateLimit) : null,
      pageSize: deps.lucca.pageSize ?? LUCCA_PAGE_SIZE,
      onRequest: luccaRequestCounter(ctx.metricMeter),
    });
    return await watchProgress('Reading Lucca', start, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      let position = resumeFrom;
      // The plan follows the read a few pages behind: Lucca's first requests go out while the
      // company's profiles load (at 100,000 that takes seconds, which would otherwise shift the
      // rate limit's window).
      const starting = RunPlan.start({
        repos,
        company,
        runId,
        fresh: ctx.info.attempt === 1,
        now: now(),
        progress: (step, done) => watch.checkpoint({ read: position, step, done }),
      });
      // Pages an earlier attempt staged are planned from their copies, not read again.
      let planned: Promise<unknown> = starting.then((plan) =>
        resumeFrom.page > 0 ? plan.stagedPages(resumeFrom.page) : undefined,
      );
      // Observed at the next wait, or after the read; a read that fails first makes them moot.
      planned.catch(() => undefined);
      let behind = 0;
      for await (const read of client.usersPages(resumeFrom, watch.signal)) {
        const users = read.items.map(mapLuccaUser);
        await repos.workingData.stagePage(runId, read.page, read.requestOffset, users);
        behind += 1;
        planned = planned.then(async () => {
          await (await starting).page(read.page, users);
          behind -= 1;
        });
        planned.catch(() => undefined);
        if (behind > PAGES_AHEAD) await planned;
        position = read.next;
        watch.checkpoint({ read: position, step: 'pages', done: position.page });
        await repos.syncRuns.setProgress(runId, {
          pagesRead: position.page,
          usersRead: position.offset,
          phase: 'reading',
        });
      }
      await planned;
      const plan = await starting;
      if (position.offset === 0 && plan.linkedProfiles > 0) {
        throw ApplicationFailure.create({
          type: failureType('lucca-empty'),
          message:
            `Lucca answered with no user at all for company ${companyId}, which has ${plan.linkedProfiles} linked profiles: ` +
            `a tenant keeps its leavers, so this is a wrong answer (a key whose role sees nobody, another tenant's key, ` +
            `a tenant emptied by mistake), not ${plan.linkedProfiles} departures. Nothing was changed. ` +
            `Check the key's role and the company's Lucca URL, then sync again.`,
          nonRetryable: true,
        });
      }
      // An earlier attempt resumed from an older heartbeat may have staged pages past this read's end.
      await repos.workingData.dropPagesFrom(runId, position.page);
      checkConnection(await loadCompany(companyId), readWith, 'while this run was reading Lucca');
      const removalsSafe = !position.moved;
      return {
        pagesRead: position.page,
        usersRead: position.offset,
        removalsSafe,
        plan: await plan.finish({ detectRemovals: removalsSafe, review, override }),
      };
    });
  }

  /**
   * Plans the staged pages of a run whose read did not plan them (runs started before the read
   * planned as it went), the same way the read does.
   */
  async function planSync({ companyId, runId, detectRemovals = true }: PlanInput): Promise<PlanResult> {
    const ctx = Context.current();
    const describe = (c: PlanCheckpoint) => `step ${c.step}, ${c.done} done`;
    const start: PlanCheckpoint = { step: 'profiles', done: 0 };
    return watchProgress('Planning', start, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      const company = await loadCompany(companyId);
      const { review, override } = await resolveOverride(company, runId);
      const plan = await RunPlan.start({
        repos,
        company,
        runId,
        fresh: ctx.info.attempt === 1,
        now: now(),
        progress: (step, done) => watch.checkpoint({ step, done }),
      });
      await plan.stagedPages();
      return plan.finish({ detectRemovals, review, override });
    });
  }

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

  return { startSyncRun, fetchLuccaUsers, planSync, applySyncPlan, finishSyncRun };
}

/** The read's resume position from a retried attempt's heartbeat (earlier versions heartbeated the position alone). */
function readPosition(details: unknown): UsersPagingPosition {
  if (!details || typeof details !== 'object') return START_OF_USERS;
  return 'read' in details ? (details as ReadCheckpoint).read : (details as UsersPagingPosition);
}

/** The apply's resume position; a checkpoint of another shape starts over (every write is idempotent). */
function applyPosition(details: unknown): ApplyCheckpoint {
  const c = details as Partial<ApplyCheckpoint> | undefined;
  if (c && (typeof c.done === 'string' || c.done === null) && typeof c.writes === 'number') {
    return { done: c.done, writes: c.writes, pending: 0, shifts: c.shifts ?? {} };
  }
  return { done: null, writes: 0, pending: 0, shifts: {} };
}

export type SyncActivities = ReturnType<typeof createSyncActivities>;
