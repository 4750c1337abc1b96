import { ObjectId } from 'mongodb';
import type { CompanyDocument } from '../db/companies-repository';
import type { ProfileDocument } from '../db/profiles-repository';
import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { COMPANY_ID_PATTERN, type ChangeAction, type ProfileStatus } from '../domain/types';
import {
  getCompaniesStatus,
  OperationError,
  REPORT_ACTIONS,
  type OperationErrorCode,
  type CompanyStatus,
  type OperationsDeps,
} from '../operations';
import { sharedLuccaBudget } from '../operations/lucca-budget';
import { checkLuccaAccess, validateLuccaUrl } from '../operations/onboard';
import type { TenantClaimOptions } from '../operations/tenant-claim';
import type { ProfileListFilter } from '../domain/profile-list';
import {
  pageOfChanges,
  type ChangeFilter,
  type ChangeIndex,
  type ChangeIndexPage,
  type RunChangeIndex,
} from './run-change-index';
import { pageOf, type DirectoryPage, type DirectorySnapshot, type ProfileDirectory } from './profile-directory';

/**
 * What the console's pages and its JSON API read. Writes go through `operations/`, the same
 * functions the CLI uses; this file only reads (and makes the one Lucca call of "Test the connection").
 */
export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
  }
}

export const PROFILE_STATUSES: readonly ProfileStatus[] = ['active', 'upcoming', 'former'];
export const RUN_ID_PATTERN = /^[A-Za-z0-9:_.-]{1,200}$/;
/** A profile's id as the platform stores it: an ObjectId in hex. */
export const PROFILE_ID_PATTERN = /^[0-9a-f]{24}$/;

export async function requireCompany(deps: OperationsDeps, companyId: string): Promise<CompanyDocument> {
  if (!COMPANY_ID_PATTERN.test(companyId)) throw new NotFoundError('company');
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw new NotFoundError('company');
  return company;
}

export async function companyStatus(deps: OperationsDeps, companyId: string): Promise<CompanyStatus> {
  await requireCompany(deps, companyId);
  const [status] = await getCompaniesStatus(deps, { companyId });
  if (!status) throw new NotFoundError('company');
  return status;
}

export const listCompanies = (deps: OperationsDeps) => getCompaniesStatus(deps);

export async function listRuns(deps: OperationsDeps, companyId: string, limit = 30): Promise<SyncRunDocument[]> {
  await requireCompany(deps, companyId);
  return deps.repos.syncRuns.list(companyId, limit);
}

export interface RunWithProgress {
  run: SyncRunDocument;
  /** Changes planned so far (they are written at plan time, before applying). */
  changesSoFar: number;
}

export async function getRun(deps: OperationsDeps, companyId: string, runId: string): Promise<RunWithProgress> {
  await requireCompany(deps, companyId);
  if (!RUN_ID_PATTERN.test(runId)) throw new NotFoundError('run');
  const run = await deps.repos.syncRuns.get(runId);
  if (!run || run.companyId !== companyId) throw new NotFoundError('run');
  const changesSoFar = await deps.repos.syncChanges.count(runId, { except: ['skip'] });
  return { run, changesSoFar };
}

export interface ReportQuery extends ChangeFilter {
  skip?: number;
  limit?: number;
}

/** A page of the report: the window and counts are the change index's own (`run-change-index.ts`), with the page's changes. */
export interface ReportPage
  extends
    RunWithProgress,
    Pick<ChangeIndexPage, 'total' | 'skip' | 'limit'>,
    Pick<ChangeIndex, 'countsByAction' | 'countsByReason'> {
  filter: ChangeFilter;
  changes: SyncChangeDocument[];
}

const REASON_CODE_PATTERN = /^[a-z][a-z-]{0,63}$/;

/** A report's filters and page as a query string gives them; anything else is ignored. */
export function reportQuery(q: unknown): ReportQuery {
  const { action, reason, skip } = (q ?? {}) as Record<string, unknown>;
  const from = typeof skip === 'number' ? skip : Number.parseInt(typeof skip === 'string' ? skip : '', 10);
  return {
    ...(REPORT_ACTIONS.includes(action as ChangeAction) ? { action: action as ChangeAction } : {}),
    ...(typeof reason === 'string' && REASON_CODE_PATTERN.test(reason) ? { reason } : {}),
    ...(Number.isSafeInteger(from) && from > 0 ? { skip: from } : {}),
  };
}

/**
 * One page of a run's changes in plan order, filtered by action and reason, from the run's change
 * index (see `RunChangeIndex`): the page's own changes are read by `_id`.
 */
export async function getReportPage(
  deps: OperationsDeps,
  reports: RunChangeIndex,
  companyId: string,
  runId: string,
  query: ReportQuery,
): Promise<ReportPage> {
  const progress = await getRun(deps, companyId, runId);
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 1000);
  const skip = Math.max(query.skip ?? 0, 0);
  const filter: ChangeFilter = {
    ...(query.action ? { action: query.action } : {}),
    ...(query.reason ? { reason: query.reason } : {}),
  };
  const index = await reports.get(runId, progress.run.status !== 'running');
  const page = pageOfChanges(index, filter, skip, limit);
  const changes = index.docs
    ? page.positions.map((i) => index.docs![i]!)
    : await deps.repos.syncChanges.bySeqs(runId, page.seqs);
  return {
    ...progress,
    filter,
    total: page.total,
    skip,
    limit,
    changes,
    countsByAction: index.countsByAction,
    countsByReason: index.countsByReason,
  };
}

export interface ProfileListQuery extends ProfileListFilter {
  skip?: number;
  limit?: number;
  /** Read the company's profiles again now rather than page the list as it was read. */
  refresh?: boolean;
}

export type ProfileList =
  | ({ kind: 'ready'; builtAt: Date; refreshing: boolean } & DirectoryPage &
      Pick<DirectorySnapshot, 'legalEntities' | 'departments'>)
  | { kind: 'building'; read: number; startedAt: Date };

/**
 * A page of the company's profiles from its directory (see `ProfileDirectory`): read again when
 * the company's latest run ended after it was read.
 */
export async function listProfiles(
  deps: OperationsDeps,
  directory: ProfileDirectory,
  companyId: string,
  query: ProfileListQuery,
): Promise<ProfileList> {
  await requireCompany(deps, companyId);
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 200);
  const skip = Math.max(query.skip ?? 0, 0);
  const latest = await deps.repos.syncRuns.latest(companyId);
  const answer = await directory.get(companyId, {
    ...(query.refresh ? { refresh: true } : {}),
    changedAt: latest?.finishedAt ?? null,
  });
  if (answer.kind === 'building') return answer;
  const { snapshot } = answer;
  const { skip: _s, limit: _l, refresh: _r, ...filter } = query;
  return {
    kind: 'ready',
    builtAt: snapshot.builtAt,
    refreshing: answer.refreshing,
    legalEntities: snapshot.legalEntities,
    departments: snapshot.departments,
    ...pageOf(snapshot, filter, skip, limit),
  };
}

export interface ProfileHistoryEntry {
  change: SyncChangeDocument;
  run: Pick<SyncRunDocument, '_id' | 'trigger' | 'mode' | 'status' | 'startedAt'> | null;
}

export async function getProfile(deps: OperationsDeps, companyId: string, profileId: string) {
  const company = await requireCompany(deps, companyId);
  if (!PROFILE_ID_PATTERN.test(profileId)) throw new NotFoundError('profile');
  const profile = await deps.repos.profiles.get(companyId, new ObjectId(profileId));
  if (!profile) throw new NotFoundError('profile');
  const changes = await deps.repos.syncChanges.forProfile(companyId, profileId);
  const runIds = [...new Set(changes.map((c) => c.runId))];
  const runs = await deps.repos.syncRuns.getMany(runIds);
  const byId = new Map(runs.map((r) => [r._id, r]));
  const history: ProfileHistoryEntry[] = changes
    .map((change) => ({ change, run: byId.get(change.runId) ?? null }))
    // Dry runs and blocked runs never touched the profile: they are plans, not history.
    .filter((e) => e.run === null || (e.run.mode === 'apply' && e.run.status === 'succeeded'))
    .sort((a, b) => (b.run?.startedAt.getTime() ?? 0) - (a.run?.startedAt.getTime() ?? 0));
  return { profile, history, lastSeenInLucca: await lastSeenInLucca(deps, company, profile) };
}

/**
 * When a run's read of Lucca last returned the profile's Lucca user (each run that read them
 * records it, see `LuccaSightingsRepository`), or when a run last wrote the link, whichever is
 * later (runs before sightings were recorded only stamped their writes). Null for an unlinked profile.
 */
async function lastSeenInLucca(
  deps: OperationsDeps,
  company: CompanyDocument,
  profile: ProfileDocument,
): Promise<Date | null> {
  if (!profile.lucca) return null;
  const tenant = profile.lucca.tenant ?? company.lucca.baseUrl;
  const seen = await deps.repos.luccaSightings.lastSeen(company._id, tenant, profile.lucca.userId);
  const written = profile.lucca.lastSeenAt ?? null;
  if (!seen) return written;
  return written && written > seen ? written : seen;
}

export type ConnectionOutcome = 'ok' | 'bad-key' | 'missing-permission' | 'not-lucca' | 'unreachable' | 'other';

export interface ConnectionCheck {
  outcome: ConnectionOutcome;
  /** The Lucca client's own sentence (names the host, never the key). */
  detail: string | null;
  baseUrl: string | null;
}

/** How long "test the connection" waits for room in the tenant's shared Lucca budget. */
export const CONSOLE_BUDGET_WAIT_MS = 10_000;

/** "Test the connection": one real Lucca call with the key typed in the form; nothing is stored. */
export async function checkLuccaConnection(
  deps: OperationsDeps,
  input: { luccaUrl: string; apiKey: string },
): Promise<ConnectionCheck> {
  let baseUrl: string;
  try {
    baseUrl = validateLuccaUrl(input.luccaUrl, deps.config.LUCCA_ALLOWED_HOSTS);
  } catch (err) {
    return { outcome: 'not-lucca', detail: err instanceof Error ? err.message : null, baseUrl: null };
  }
  try {
    await checkLuccaAccess(baseUrl, input.apiKey, {
      timeoutMs: Math.min(deps.config.LUCCA_TIMEOUT_MS, 15_000),
      maxPageBytes: deps.config.LUCCA_MAX_PAGE_BYTES,
      maxRateLimitWaits: 1,
      // A page waits for the answer: a few seconds at most, then "Lucca is busy" with the time it frees.
      limiter: sharedLuccaBudget(deps, baseUrl, CONSOLE_BUDGET_WAIT_MS),
    });
    return { outcome: 'ok', detail: null, baseUrl };
  } catch (err) {
    return { ...describeLuccaFailure(err), baseUrl };
  }
}

/** What "test the connection" says, by the failure's code (a 403 is a key without a permission). */
const OUTCOME_BY_CODE: Partial<Record<OperationErrorCode, ConnectionOutcome>> = {
  'lucca-auth': 'bad-key',
  'lucca-request': 'not-lucca',
  'lucca-not-lucca': 'not-lucca',
  'invalid-lucca-url': 'not-lucca',
  'not-a-lucca-host': 'not-lucca',
  'lucca-unreachable': 'unreachable',
  'lucca-missing-field': 'missing-permission',
};

/**
 * A page does not hang for the 75 s an onboarding or scope change may wait for another of its
 * tenant (the CLI's wait, which says what it waits for): past 10 s the console answers with the
 * refusal (`tenant-busy`), which names the company being placed and since when; nothing changed.
 */
export const CONSOLE_TENANT_CLAIM: TenantClaimOptions = { waitMs: 10_000 };

export function describeLuccaFailure(err: unknown): { outcome: ConnectionOutcome; detail: string | null } {
  if (!(err instanceof OperationError)) return { outcome: 'other', detail: null };
  const outcome = OUTCOME_BY_CODE[err.code] ?? 'other';
  return {
    outcome: outcome === 'bad-key' && err.luccaStatus === 403 ? 'missing-permission' : outcome,
    detail: err.message,
  };
}
