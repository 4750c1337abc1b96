import { ObjectId } from 'mongodb';
import type { CompanyDocument } from '../db/companies-repository';
import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { COMPANY_ID_PATTERN, type ProfileStatus } from '../domain/types';
import {
  getCompaniesStatus,
  getSyncReport,
  OperationError,
  type OperationErrorCode,
  type CompanyStatus,
  type OperationsDeps,
} from '../operations';
import { checkLuccaAccess, sharedLuccaBudget, validateLuccaUrl } from '../operations/onboard';

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

export async function getReport(deps: OperationsDeps, companyId: string, runId: string, perAction = 100) {
  await getRun(deps, companyId, runId);
  try {
    return await getSyncReport(deps, { companyId, runId, perAction });
  } catch (err) {
    if (err instanceof OperationError) throw new NotFoundError('run');
    throw err;
  }
}

export interface ProfileFilter {
  status?: ProfileStatus;
  linked?: boolean;
  skip?: number;
  limit?: number;
}

export async function listProfiles(deps: OperationsDeps, companyId: string, filter: ProfileFilter) {
  await requireCompany(deps, companyId);
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  const skip = Math.max(filter.skip ?? 0, 0);
  const { total, items } = await deps.repos.profiles.list(
    companyId,
    { status: filter.status, linked: filter.linked },
    { skip, limit },
  );
  return { total, skip, limit, items };
}

export interface ProfileHistoryEntry {
  change: SyncChangeDocument;
  run: Pick<SyncRunDocument, '_id' | 'trigger' | 'mode' | 'status' | 'startedAt'> | null;
}

export async function getProfile(deps: OperationsDeps, companyId: string, profileId: string) {
  await requireCompany(deps, companyId);
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
  return { profile, history };
}

export type ConnectionOutcome = 'ok' | 'bad-key' | 'missing-permission' | 'not-lucca' | 'unreachable' | 'other';

export interface ConnectionCheck {
  outcome: ConnectionOutcome;
  /** The Lucca client's own sentence (names the host, never the key). */
  detail: string | null;
  baseUrl: string | null;
}

/** How long "test the connection" waits for room in the tenant's shared Lucca budget. */
const CONSOLE_BUDGET_WAIT_MS = 10_000;

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

export function describeLuccaFailure(err: unknown): { outcome: ConnectionOutcome; detail: string | null } {
  if (!(err instanceof OperationError)) return { outcome: 'other', detail: null };
  const outcome = OUTCOME_BY_CODE[err.code] ?? 'other';
  return {
    outcome: outcome === 'bad-key' && err.luccaStatus === 403 ? 'missing-permission' : outcome,
    detail: err.message,
  };
}
