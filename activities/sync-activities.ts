import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { decryptApiKey, type Keyring } from '../db/api-key-cipher';
import type { PlannedUpdate } from '../db/profiles-repository';
import type { Repositories } from '../db/mongo';
import type { SyncRunStatus } from '../db/sync-runs-repository';
import { failureType, type RunError } from '../domain/failures';
import { mapLuccaUser } from '../domain/map-lucca-user';
import type { GuardCeiling, SyncTrigger } from '../domain/types';
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
import { RunPlan, type PlanResult, type PlanStep } from './run-plan';
import { completeRewrite } from './sweep';

export interface SyncActivityDeps {
  repos: Repositories;
  /** The secrets of LUCCA_SYNC_SECRET(S): decrypt the company's API key inside the activity, never outside. */
  keyring: Keyring;
  lucca: {
    timeoutMs: number;
    rateLimit: { limit: number; windowMs: number } | null;
    pageSize?: number;
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
  /** Passed to the guard of the plan made while reading. */
  allowMassDeactivation?: boolean;
  /** The reviewed counts an override may go up to (then `allowMassDeactivation` alone is ignored). */
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
  writes: number;
  /** Updates gathered for the next batch. */
  pending: number;
}

/** Pages the read may stage ahead of the plan (held in memory until planned); a test reads 24 pages ahead of it. */
export const PAGES_AHEAD = 2;

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
  async function fetchLuccaUsers({
    companyId,
    runId,
    allowMassDeactivation = false,
    overrideCeilings,
  }: ReadInput): Promise<ReadResult> {
    const ctx = Context.current();
    const company = await loadCompany(companyId);
    if (!company.lucca.apiKey) {
      throw ApplicationFailure.create({
        type: failureType('lucca-auth'),
        message: `Company ${companyId} has no Lucca API key (offboarded?). Run onboard again with a key from the company's Lucca admin.`,
        nonRetryable: true,
      });
    }
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
        await repos.staging.stagePage(runId, read.page, read.requestOffset, users);
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
      // An earlier attempt resumed from an older heartbeat may have staged pages past this read's end.
      await repos.staging.dropPagesFrom(runId, position.page);
      const removalsSafe = !position.moved;
      return {
        pagesRead: position.page,
        usersRead: position.offset,
        removalsSafe,
        plan: await plan.finish({ detectRemovals: removalsSafe, allowMassDeactivation, overrideCeilings }),
      };
    });
  }

  /**
   * Plans the staged pages of a run whose read did not plan them (runs started before the read
   * planned as it went), the same way the read does.
   */
  async function planSync({
    companyId,
    runId,
    allowMassDeactivation,
    detectRemovals = true,
  }: PlanInput): Promise<PlanResult> {
    const ctx = Context.current();
    const describe = (c: PlanCheckpoint) => `step ${c.step}, ${c.done} done`;
    const start: PlanCheckpoint = { step: 'profiles', done: 0 };
    return watchProgress('Planning', start, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      const plan = await RunPlan.start({
        repos,
        company: await loadCompany(companyId),
        runId,
        fresh: ctx.info.attempt === 1,
        now: now(),
        progress: (step, done) => watch.checkpoint({ step, done }),
      });
      await plan.stagedPages();
      return plan.finish({ detectRemovals, allowMassDeactivation });
    });
  }

  /**
   * Applies the planned profile writes in plan order: each chunk's creates as it is read, the
   * updates gathered over chunks and written as a batch — one by one, or on a store where that
   * costs a scan each, rewritten together (see `StoreCapabilities.rewriteFrom`), journaled first.
   * Resumes after the last chunk whose writes were all done; every write is idempotent.
   */
  async function applySyncPlan({ companyId, runId }: SyncRunRef): Promise<{ profileWrites: number }> {
    const ctx = Context.current();
    const resumeFrom = applyPosition(ctx.info.heartbeatDetails);
    const describe = (c: ApplyCheckpoint) =>
      `after plan chunk ${c.done ?? 'none'} (${c.writes} profile writes so far, ${c.pending} updates gathered)`;
    return watchProgress('Applying the plan', resumeFrom, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      const caps = await repos.profiles.capabilities();
      let { done, writes } = resumeFrom;
      // Writes of the chunks gathered past `done` join `writes` only once `done` moves past them,
      // so a checkpoint counts exactly the chunks it resumes after. A retry writes the rest again,
      // and counts every profile of theirs the store holds: an attempt that died after the store
      // wrote a batch, before it heard back, never counted it.
      let unsettled = 0;
      let pending: PlannedUpdate[] = [];
      let gathered = done;
      const checkpoint = () => watch.checkpoint({ done, writes, pending: pending.length });
      const settle = () => {
        done = gathered;
        writes += unsettled;
        unsettled = 0;
      };

      // A rewrite an earlier attempt journaled but may not have finished; its batch is gathered
      // and counted again below, from the checkpoint before it.
      await completeRewrite(repos, runId);
      const flush = async () => {
        if (pending.length >= caps.rewriteFrom) {
          const entries = await repos.profiles.readForRewrite(companyId, pending);
          checkpoint();
          await repos.staging.journal(runId, entries);
          checkpoint();
          unsettled += await repos.profiles.rewrite(entries);
          await repos.staging.clearJournal(runId);
        } else {
          for await (const written of repos.profiles.updateEach(companyId, pending)) {
            unsettled += written;
            checkpoint();
          }
        }
        pending = [];
        settle();
        checkpoint();
      };
      for await (const chunk of repos.staging.readPlanChunks(runId, resumeFrom.done)) {
        const { inserts, updates } = repos.profiles.plannedWrites(companyId, chunk.changes, now());
        if (pending.length + updates.length > caps.maxDeletesPerCommand) await flush();
        if (inserts.length > 0) unsettled += await repos.profiles.insertPlanned(inserts);
        pending.push(...updates);
        gathered = chunk._id;
        // Nothing of this chunk waits: resume after it.
        if (pending.length === 0) settle();
        checkpoint();
        if (!Number.isFinite(caps.rewriteFrom)) await flush();
      }
      if (pending.length > 0) await flush();
      return { profileWrites: writes };
    });
  }

  async function finishSyncRun(input: FinishInput): Promise<void> {
    const finishedAt = now();
    const run = await repos.syncRuns.get(input.runId);
    await repos.syncRuns.finish(input.runId, input, finishedAt);
    // Counted once: a retried finish finds the run closed already.
    if (run?.status === 'running') {
      recordFinishedRun(Context.current().metricMeter, { run, status: input.status, error: input.error, finishedAt });
    }
    // An apply that gave up in the middle of a rewrite leaves profiles only in its journal.
    await completeRewrite(repos, input.runId);
    await repos.staging.clearRun(input.runId);
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
    return { done: c.done, writes: c.writes, pending: 0 };
  }
  return { done: null, writes: 0, pending: 0 };
}

export type SyncActivities = ReturnType<typeof createSyncActivities>;
