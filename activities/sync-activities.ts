import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ObjectId } from 'mongodb';
import { decryptApiKey } from '../db/api-key-cipher';
import type { Repositories } from '../db/mongo';
import { toChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunStatus, SyncTrigger } from '../db/sync-runs-repository';
import type { ApplicableChange } from '../db/sync-staging-repository';
import { FailureType } from '../domain/failures';
import { mapLuccaUser } from '../domain/map-lucca-user';
import { CompanyPlanner, DuplicateEmailFinder } from '../domain/plan-company';
import { companyToday } from '../domain/status';
import type { PlannedChange, SyncCounts } from '../domain/types';
import { LuccaClient, LUCCA_PAGE_SIZE, START_OF_USERS, type UsersPagingPosition } from '../lucca/client';
import { limiterFor } from '../lucca/rate-limiter';
import { toTemporalFailure } from './errors';
import { DEFAULT_STALL_TIMEOUT_MS, watchProgress } from './progress';

export interface SyncActivityDeps {
  repos: Repositories;
  /** LUCCA_SYNC_SECRET: decrypts the company's API key inside the activity, never outside. */
  secret: string;
  lucca: { timeoutMs: number; rateLimit: { limit: number; windowMs: number } | null; pageSize?: number };
  now?: () => Date;
  /** How long an activity may go without progress before its attempt fails and is retried. */
  stallTimeoutMs?: number;
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
}

export interface ReadResult {
  pagesRead: number;
  usersRead: number;
  /** False when Lucca's data moved under the read: absence from it then proves nothing. */
  removalsSafe: boolean;
}

export interface PlanInput extends SyncRunRef {
  allowMassDeactivation: boolean;
  /** Plan `removed-from-lucca` deactivations; off when the read saw data move. Default true. */
  detectRemovals?: boolean;
}

export interface PlanResult {
  counts: SyncCounts;
  deactivations: number;
  activeProfiles: number;
  limit: number;
  blocked: boolean;
  writes: number;
}

export interface FinishInput extends SyncRunRef {
  status: Exclude<SyncRunStatus, 'running'>;
  error: { code: string; message: string } | null;
  profileWrites: number;
}

/** Heartbeat details of the plan: how far it got. Counts only. */
interface PlanCheckpoint {
  step: 'emails' | 'profiles' | 'pages' | 'removals';
  done: number;
}

/** Heartbeat details of the apply: where to resume. Positions and counts only. */
interface ApplyCheckpoint {
  /** The plan chunk being applied. */
  chunk: number;
  /** Write commands of that chunk already completed. */
  commands: number;
  writes: number;
}

/** Most removals planned into one chunk (one `syncChanges` insert, one plan chunk); the scale tests plan eleven. */
const REMOVALS_PER_CHUNK = 100;

export function createSyncActivities(deps: SyncActivityDeps) {
  const { repos } = deps;
  const now = deps.now ?? (() => new Date());
  const stallTimeoutMs = deps.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;

  async function loadCompany(companyId: string) {
    const company = await repos.companies.get(companyId);
    if (!company) {
      throw ApplicationFailure.create({
        type: FailureType.companyMissing,
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
   * per page). Resumes from the last heartbeated position when retried: finished pages are not
   * read again, and a page read again replaces its copy.
   */
  async function fetchLuccaUsers({ companyId, runId }: SyncRunRef): Promise<ReadResult> {
    const ctx = Context.current();
    const company = await loadCompany(companyId);
    if (!company.lucca.apiKey) {
      throw ApplicationFailure.create({
        type: FailureType.luccaAuth,
        message: `Company ${companyId} has no Lucca API key (offboarded?). Run onboard again with a key from the company's Lucca admin.`,
        nonRetryable: true,
      });
    }
    const resumeFrom = (ctx.info.heartbeatDetails as UsersPagingPosition | undefined) ?? START_OF_USERS;
    try {
      const apiKey = decryptApiKey(deps.secret, companyId, company.lucca.apiKey);
      const client = new LuccaClient({
        baseUrl: company.lucca.baseUrl,
        apiKey,
        timeoutMs: deps.lucca.timeoutMs,
        limiter: deps.lucca.rateLimit ? limiterFor(company.lucca.baseUrl, deps.lucca.rateLimit) : null,
        pageSize: deps.lucca.pageSize ?? LUCCA_PAGE_SIZE,
      });
      const describe = (p: UsersPagingPosition) => `page ${p.page + 1} (Lucca offset ${p.offset})`;
      return await watchProgress('Reading Lucca', resumeFrom, { stallTimeoutMs, describe }, async (watch) => {
        let position = resumeFrom;
        for await (const read of client.usersPages(resumeFrom, watch.signal)) {
          await repos.staging.stagePage(runId, read.page, read.requestOffset, read.items.map(mapLuccaUser));
          position = read.next;
          watch.checkpoint(position);
          await repos.syncRuns.setProgress(runId, {
            pagesRead: position.page,
            usersRead: position.offset,
            phase: 'reading',
          });
        }
        // An earlier attempt resumed from an older heartbeat may have staged pages past this read's end.
        await repos.staging.dropPagesFrom(runId, position.page);
        return { pagesRead: position.page, usersRead: position.offset, removalsSafe: !position.moved };
      });
    } catch (err) {
      throw toTemporalFailure(err);
    }
  }

  /**
   * Computes the whole plan without touching a profile: every change and record-level problem
   * into `syncChanges` (the report), the profile writes into the run's plan chunks (what apply
   * reads), then — the read being complete, or the run would have failed before planning —
   * linked profiles whose user was not read are planned as removed.
   */
  async function planSync({
    companyId,
    runId,
    allowMassDeactivation,
    detectRemovals = true,
  }: PlanInput): Promise<PlanResult> {
    const ctx = Context.current();
    const describe = (c: PlanCheckpoint) => `step ${c.step}, ${c.done} done`;
    const start: PlanCheckpoint = { step: 'emails', done: 0 };
    return watchProgress('Planning', start, { stallTimeoutMs, describe }, async (watch) => {
      const company = await loadCompany(companyId);
      // Only a retried plan has changes to clear; skipping the delete spares a first attempt a scan
      // of every run's changes (FerretDB 1.x has no index pushdown).
      if (ctx.info.attempt > 1) {
        await repos.syncChanges.clearRun(runId);
        await repos.staging.clearPlan(runId);
      }
      const run = await repos.syncRuns.get(runId);
      await repos.syncRuns.setProgress(runId, { pagesRead: 0, usersRead: 0, ...run?.progress, phase: 'planning' });

      const emails = new DuplicateEmailFinder();
      let pages = 0;
      for await (const page of repos.staging.readPages(runId)) {
        emails.add(page.users);
        watch.checkpoint({ step: 'emails', done: ++pages });
      }
      const index = await repos.profiles.loadCompanyIndex(companyId, (done) =>
        watch.checkpoint({ step: 'profiles', done }),
      );
      const planner = new CompanyPlanner({
        today: companyToday(company.timezone, now()),
        index,
        duplicateEmails: emails.duplicates,
        newProfileId,
      });

      let seq = 0;
      let chunk = 0;
      const store = async (changes: PlannedChange[]) => {
        await repos.syncChanges.insertMany(changes.map((c) => toChangeDocument(runId, companyId, ++seq, c)));
        const writes = changes.filter(isApplicable);
        chunk += await repos.staging.storePlanChunks(runId, chunk, writes);
      };
      pages = 0;
      for await (const page of repos.staging.readPages(runId)) {
        await store(planner.planPage(page.users));
        watch.checkpoint({ step: 'pages', done: ++pages });
      }
      if (detectRemovals) {
        const removals = planner.planRemovals();
        for (let i = 0; i < removals.length; i += REMOVALS_PER_CHUNK) {
          await store(removals.slice(i, i + REMOVALS_PER_CHUNK));
          watch.checkpoint({ step: 'removals', done: i + REMOVALS_PER_CHUNK });
        }
      }

      const { counts, writes } = planner.tally;
      const verdict = planner.verdict(company.sync.deactivationGuard, allowMassDeactivation);
      await repos.syncRuns.recordPlan(
        runId,
        counts,
        { deactivations: verdict.deactivations, limit: verdict.limit, activeProfiles: verdict.activeProfiles },
        detectRemovals,
      );
      return { ...verdict, counts, writes };
    });
  }

  /**
   * Applies the planned profile writes chunk by chunk, in plan order; resumes after the last
   * heartbeated write command when retried.
   */
  async function applySyncPlan({ companyId, runId }: SyncRunRef): Promise<{ profileWrites: number }> {
    const ctx = Context.current();
    const resumeFrom = (ctx.info.heartbeatDetails as ApplyCheckpoint | undefined) ?? {
      chunk: 0,
      commands: 0,
      writes: 0,
    };
    const describe = (c: ApplyCheckpoint) =>
      `plan chunk ${c.chunk + 1}, after ${c.commands} write commands of it (${c.writes} profile writes so far)`;
    return watchProgress('Applying the plan', resumeFrom, { stallTimeoutMs, describe }, async (watch) => {
      let { commands, writes } = resumeFrom;
      for await (const planned of repos.staging.readPlanChunks(runId, resumeFrom.chunk)) {
        const { chunk } = planned;
        for await (const written of repos.profiles.applyChanges(companyId, planned.changes, now(), commands)) {
          writes += written;
          watch.checkpoint({ chunk, commands: ++commands, writes });
        }
        commands = 0;
        watch.checkpoint({ chunk: chunk + 1, commands, writes });
      }
      return { profileWrites: writes };
    });
  }

  async function finishSyncRun(input: FinishInput): Promise<void> {
    await repos.syncRuns.finish(input.runId, input, now());
    await repos.staging.clearRun(input.runId);
  }

  return { startSyncRun, fetchLuccaUsers, planSync, applySyncPlan, finishSyncRun };
}

const isApplicable = (change: PlannedChange): change is ApplicableChange =>
  change.target !== undefined && typeof change.profileId === 'string' && change.luccaUserId !== null;

/** Profile ids are chosen at plan time so a retried apply upserts the same document. */
const newProfileId = (): string => new ObjectId().toHexString();

export type SyncActivities = ReturnType<typeof createSyncActivities>;
