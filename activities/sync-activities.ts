import { Context } from '@temporalio/activity';
import { ObjectId } from 'mongodb';
import { ApplicationFailure } from '@temporalio/common';
import { decryptApiKey } from '../db/api-key-cipher';
import type { Repositories } from '../db/mongo';
import type { ApplicableChange } from '../db/profiles-repository';
import { fromChangeDocument, toChangeDocument, type SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunStatus, SyncTrigger } from '../db/sync-runs-repository';
import { mapLuccaUser } from '../domain/map-lucca-user';
import { addToCounts, guardDeactivations, isDeactivation, planLuccaUser, planRemoval } from '../domain/plan';
import { companyToday } from '../domain/status';
import { emptyCounts, type PlannedChange, type SyncCounts } from '../domain/types';
import { LuccaClient, LUCCA_PAGE_SIZE } from '../lucca/client';
import { limiterFor } from '../lucca/rate-limiter';
import { FailureType } from '../domain/failures';
import { toTemporalFailure } from './errors';

export interface SyncActivityDeps {
  repos: Repositories;
  /** LUCCA_SYNC_SECRET: decrypts the company's API key inside the activity, never outside. */
  secret: string;
  lucca: { timeoutMs: number; rateLimit: { limit: number; windowMs: number } | null; pageSize?: number };
  now?: () => Date;
  /** How many staged users / profiles the planner holds at once. */
  planBatchSize?: number;
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

/** Heartbeat details of the read: where to resume. Offsets and counts only. */
interface ReadCheckpoint {
  offset: number;
  pagesRead: number;
  /** Lucca id of the last user read, checked again at the start of the next page. */
  lastId: number | null;
  /** Users were deleted under the read: someone may have been skipped. */
  moved: boolean;
}

/** Heartbeat details of the apply: the last applied change's plan position. */
interface ApplyCheckpoint {
  afterSeq: number;
  writes: number;
}

const HEARTBEAT_EVERY_MS = 5_000;
const APPLY_BATCH = 1000;

/**
 * Runs `fn` while heartbeating the latest checkpoint every few seconds, so a long wait inside it
 * (a rate-limit slot, a slow Lucca page, a slow bulk write) never looks like a dead worker.
 */
async function withHeartbeat<C, T>(initial: C, fn: (checkpoint: (c: C) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let latest = initial;
  ctx.heartbeat(latest);
  const timer = setInterval(() => ctx.heartbeat(latest), HEARTBEAT_EVERY_MS);
  try {
    return await fn((c) => {
      latest = c;
      ctx.heartbeat(c);
    });
  } finally {
    clearInterval(timer);
  }
}

export function createSyncActivities(deps: SyncActivityDeps) {
  const { repos } = deps;
  const now = deps.now ?? (() => new Date());
  const pageSize = deps.lucca.pageSize ?? LUCCA_PAGE_SIZE;
  const planBatchSize = deps.planBatchSize ?? 1000;

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
   * Reads every Lucca user of the company, page by page, into the staging collection. Resumes
   * from the last heartbeated offset when retried, so finished pages are not read again.
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
    const resumeFrom = (ctx.info.heartbeatDetails as ReadCheckpoint | undefined) ?? {
      offset: 0,
      pagesRead: 0,
      lastId: null,
      moved: false,
    };
    try {
      const apiKey = decryptApiKey(deps.secret, companyId, company.lucca.apiKey);
      const client = new LuccaClient({
        baseUrl: company.lucca.baseUrl,
        apiKey,
        timeoutMs: deps.lucca.timeoutMs,
        limiter: deps.lucca.rateLimit ? limiterFor(company.lucca.baseUrl, deps.lucca.rateLimit) : null,
      });
      return await withHeartbeat(resumeFrom, async (checkpoint) => {
        let { offset, pagesRead, lastId, moved } = resumeFrom;
        for (;;) {
          // Each page after the first starts one user early, on the last user already read: if
          // that user is not where it was, the data moved under offset paging. Users inserted
          // before the offset only repeat users (staging keeps each once); users deleted before
          // it make the next users slide back unseen, so the run must not call anyone removed.
          const overlap = lastId !== null && offset > 0;
          const requestOffset = overlap ? offset - 1 : offset;
          const page = await client.fetchUsersPage(requestOffset, pageSize, ctx.cancellationSignal);
          let items = page.items;
          if (overlap) {
            const firstId = luccaIdOf(items[0]);
            if (firstId === lastId) items = items.slice(1);
            else if (firstId === null || firstId > lastId!) moved = true;
          }
          await repos.staging.stagePage(runId, requestOffset, items.map(mapLuccaUser));
          offset = requestOffset + page.items.length;
          lastId = luccaIdOf(page.items[page.items.length - 1]) ?? lastId;
          pagesRead += 1;
          checkpoint({ offset, pagesRead, lastId, moved });
          await repos.syncRuns.setProgress(runId, { pagesRead, usersRead: offset, phase: 'reading' });
          if (page.isLast) break;
        }
        return { pagesRead, usersRead: await repos.staging.count(runId), removalsSafe: !moved };
      });
    } catch (err) {
      throw toTemporalFailure(err);
    }
  }

  /**
   * Computes the whole plan into `syncChanges` without touching a profile: the company's
   * profiles are indexed in memory in one pass, the staged users streamed against them, then —
   * the read being complete, or the run would have failed before planning — linked profiles
   * whose user was not read are planned as removed.
   */
  /**
   * Heartbeats every few seconds for the whole plan: loading a large company's profiles, or a
   * MongoDB outage met mid-plan, can outlast the heartbeat timeout, and a timed-out attempt keeps
   * running beside its retry — both writing the same plan positions, so every retry then fails.
   */
  function planSync(input: PlanInput): Promise<PlanResult> {
    return withHeartbeat(null, () => planSyncOnce(input));
  }

  async function planSyncOnce({
    companyId,
    runId,
    allowMassDeactivation,
    detectRemovals = true,
  }: PlanInput): Promise<PlanResult> {
    const ctx = Context.current();
    const company = await loadCompany(companyId);
    const today = companyToday(company.timezone, now());
    // Only a retried plan has changes to clear; skipping the delete spares a first attempt a scan
    // of every run's changes (FerretDB 1.x has no index pushdown).
    if (ctx.info.attempt > 1) await repos.syncChanges.clearRun(runId);
    const run = await repos.syncRuns.get(runId);
    await repos.syncRuns.setProgress(runId, { pagesRead: 0, usersRead: 0, ...run?.progress, phase: 'planning' });
    const [index, duplicateEmails] = await Promise.all([
      repos.profiles.loadCompanyIndex(companyId),
      repos.staging.duplicateEmails(runId),
    ]);
    let counts = emptyCounts();
    let seq = 0;
    let deactivations = 0;
    let writes = 0;
    const store = async (changes: PlannedChange[]) => {
      const docs: SyncChangeDocument[] = [];
      for (const change of changes) {
        counts = addToCounts(counts, change);
        if (isDeactivation(change)) deactivations++;
        if (change.target) writes++;
        docs.push(toChangeDocument(runId, companyId, ++seq, change));
      }
      await repos.syncChanges.insertMany(docs);
    };

    const seenIds = new Set<number>();
    let seen = 0;
    let changedUsers = 0;
    for await (const batch of repos.staging.stream(runId, planBatchSize)) {
      ctx.heartbeat();
      seen += batch.length;
      const changes: PlannedChange[] = [];
      for (const staged of batch) {
        const { email, luccaUserId } = staged;
        if (luccaUserId !== null) seenIds.add(luccaUserId);
        const sameEmail = email ? (index.byEmail.get(email) ?? []) : [];
        const change = planLuccaUser(staged.mapped, {
          today,
          linkedProfile: luccaUserId === null ? null : (index.linkedByUserId.get(luccaUserId) ?? null),
          unlinkedSameEmail: sameEmail.filter((p) => !p.lucca),
          emailTakenByOther: sameEmail.some((p) => p.lucca && p.lucca.userId !== luccaUserId),
          emailDuplicatedInLucca: email !== null && duplicateEmails.has(email),
        });
        if (change) {
          changes.push(change.action === 'create' ? { ...change, profileId: newProfileId() } : change);
          changedUsers++;
        }
      }
      await store(changes);
    }

    const removals: PlannedChange[] = [];
    for (const [userId, profile] of detectRemovals ? index.linkedByUserId : []) {
      if (seenIds.has(userId)) continue;
      const change = planRemoval(profile, today);
      if (change) removals.push(change);
    }
    await store(removals);

    counts = { ...counts, seen, unchanged: Math.max(0, seen - changedUsers) };
    const activeProfiles = index.notFormer;
    const verdict = guardDeactivations({
      deactivations,
      activeProfiles,
      guard: company.sync.deactivationGuard,
      allowMassDeactivation,
    });
    await repos.syncRuns.recordPlan(
      runId,
      counts,
      { deactivations, limit: verdict.limit, activeProfiles },
      detectRemovals,
    );
    return { counts, deactivations, activeProfiles, limit: verdict.limit, blocked: verdict.blocked, writes };
  }

  /** Applies the stored plan in plan order; resumes after the last heartbeated change when retried. */
  async function applySyncPlan({ companyId, runId }: SyncRunRef): Promise<{ profileWrites: number }> {
    const ctx = Context.current();
    const resumeFrom = (ctx.info.heartbeatDetails as ApplyCheckpoint | undefined) ?? { afterSeq: 0, writes: 0 };
    return withHeartbeat(resumeFrom, async (checkpoint) => {
      let { afterSeq, writes } = resumeFrom;
      let batch: ApplicableChange[] = [];
      const flush = async () => {
        writes += await repos.profiles.applyChanges(companyId, batch, now());
        checkpoint({ afterSeq, writes });
        batch = [];
      };
      for await (const doc of repos.syncChanges.writingCursor(runId, afterSeq, APPLY_BATCH)) {
        const change = fromChangeDocument(doc);
        if (typeof change.profileId === 'string') batch.push(change as ApplicableChange);
        afterSeq = doc.seq;
        if (batch.length >= APPLY_BATCH) await flush();
      }
      await flush();
      return { profileWrites: writes };
    });
  }

  async function finishSyncRun(input: FinishInput): Promise<void> {
    await repos.syncRuns.finish(input.runId, input, now());
    await repos.staging.clearRun(input.runId);
  }

  return { startSyncRun, fetchLuccaUsers, planSync, applySyncPlan, finishSyncRun };
}

function luccaIdOf(raw: unknown): number | null {
  const id = (raw as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
}

/** Profile ids are chosen at plan time so a retried apply upserts the same document. */
const newProfileId = (): string => new ObjectId().toHexString();

export type SyncActivities = ReturnType<typeof createSyncActivities>;
