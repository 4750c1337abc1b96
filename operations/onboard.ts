import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { requireKeyring } from '../config/env';
import { COMPANY_ID_PATTERN } from '../domain/types';
import { ApiKeyDecryptError, apiKeyHint, decryptApiKey, encryptApiKey, type Keyring } from '../db/api-key-cipher';
import { scopeOf, type CompanyDocument, type CompanyScope } from '../db/companies-repository';
import { isAllowedLuccaUrl, LuccaClient, normaliseLuccaBaseUrl, type LuccaScope } from '../lucca/client';
import { sameLuccaScope, type LuccaOrganisation } from '../lucca/scope';
import { LuccaError } from '../lucca/errors';
import type { LuccaRequestBudget } from '../lucca/rate-limiter';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';
import { parseEveryOrThrow, upsertCompanyDatesSchedule, upsertCompanySchedule } from './schedule';
import { placeScope, validateScope, type ScopeOverlap } from './scope';
import { defaultRequestedBy, sendSyncRequest, type SyncTicket } from './sync';
import { CLI_BUDGET_WAIT_MS, sharedLuccaBudget } from './lucca-budget';
import { refuseWhileRunInFlight } from './run-in-flight';
import type { TenantClaimOptions } from './tenant-claim';

export interface OnboardInput {
  companyId: string;
  name: string;
  luccaUrl: string;
  apiKey: string;
  every?: string;
  timezone?: string;
  requestedBy?: string;
  /** Refuse rather than update a company that exists ("connect a new company"). */
  createOnly?: boolean;
  /**
   * The company moved to another Lucca tenant: unlink its profiles (kept as they are) so the next
   * sync attaches them again by email. Without it, changing the Lucca URL of a company with linked
   * profiles is refused.
   */
  relink?: boolean;
  /**
   * The legal entities and departments the company covers (empty lists: the whole tenant); part of
   * the connection, so the first sync is scoped. Absent keeps an existing company's scope (a new
   * company then covers the whole tenant): onboarding again to change a key never widens it.
   */
  scope?: LuccaScope;
  /** Accept a scope that overlaps another company's on the same tenant (recorded on the company). */
  allowOverlap?: boolean;
  /** While another onboarding or scope change of the tenant holds its claim: how long to wait, who to tell. */
  claim?: TenantClaimOptions;
}

export interface OnboardResult {
  companyId: string;
  created: boolean;
  baseUrl: string;
  apiKeyHint: string;
  every: string;
  timezone: string;
  schedule: 'created' | 'updated';
  /** The name Lucca gives the key, when it says. */
  luccaPrincipal: string | null;
  /** Profiles unlinked because the company moved to another Lucca tenant (`relink`). */
  unlinkedProfiles: number;
  /** The connection's stamp, and whether this onboarding changed it (a new URL or key). */
  connectionId: string;
  connectionChanged: boolean;
  /** The scope the company now has (null: the whole tenant). */
  scope: CompanyScope | null;
  /** Companies of the same tenant whose scopes overlap this one, allowed with `allowOverlap`. */
  overlaps: ScopeOverlap[];
  firstSync: SyncTicket;
}

export const DEFAULT_EVERY = '24h';
export const DEFAULT_TIMEZONE = 'Europe/Paris';
const LUCCA_HOSTS_HELP = '*.ilucca.net, *.ilucca-test.net, *.ilucca-demo.net, *.ilucca.ch or a Lucca sandbox';

export function validateCompanyId(companyId: string): void {
  if (!COMPANY_ID_PATTERN.test(companyId)) {
    throw new OperationError(
      'invalid-company-id',
      `Company id "${companyId}" is not a slug: use 2 to 63 lower-case letters, digits and dashes, starting with a letter or digit (e.g. acme or acme-fr).`,
    );
  }
}

export function validateTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new OperationError('invalid-timezone', `"${timezone}" is not an IANA time zone (e.g. Europe/Paris).`);
  }
}

/** Normalises the pasted Lucca address and refuses hosts the API key must never be sent to. */
export function validateLuccaUrl(luccaUrl: string, allowedHosts: readonly string[]): string {
  let baseUrl: string;
  try {
    baseUrl = normaliseLuccaBaseUrl(luccaUrl);
  } catch (err) {
    throw new OperationError('invalid-lucca-url', err instanceof Error ? err.message : String(err));
  }
  if (!isAllowedLuccaUrl(baseUrl, allowedHosts)) {
    throw new OperationError(
      'not-a-lucca-host',
      `${baseUrl} is not a Lucca address: the API key is only sent over https to ${LUCCA_HOSTS_HELP} (LUCCA_ALLOWED_HOSTS adds hosts for local testing).`,
    );
  }
  return baseUrl;
}

/**
 * The legal entities and departments a tenant has, read with a key not stored yet (the console's
 * connection form offers them to choose the scope from): one read of the tenant's places, from
 * its shared budget. Nothing is stored.
 */
export async function readTenantOrganisation(
  deps: OperationsDeps,
  input: { luccaUrl: string; apiKey: string },
  maxWaitMs: number,
): Promise<LuccaOrganisation> {
  const baseUrl = validateLuccaUrl(input.luccaUrl, deps.config.LUCCA_ALLOWED_HOSTS);
  try {
    const lucca = new LuccaClient({
      baseUrl,
      apiKey: input.apiKey,
      timeoutMs: deps.config.LUCCA_TIMEOUT_MS,
      maxPageBytes: deps.config.LUCCA_MAX_PAGE_BYTES,
      limiter: sharedLuccaBudget(deps, baseUrl, maxWaitMs),
    });
    return await lucca.readOrganisation();
  } catch (err) {
    if (err instanceof LuccaError) {
      throw new OperationError(err.code, `Lucca could not be read, nothing was saved: ${err.message}`, err.status);
    }
    throw err;
  }
}

/**
 * Onboards a company, or updates it when it exists (new key, URL, frequency): everything is
 * validated and the key is checked by one real Lucca call before anything is written. Then the
 * company is stored (key encrypted), its schedule created or updated, and a first sync requested.
 */
export async function onboardCompany(deps: OperationsDeps, input: OnboardInput): Promise<OnboardResult> {
  const { config } = deps;
  const companyId = input.companyId.trim();
  validateCompanyId(companyId);
  const name = input.name.trim();
  if (!name) throw new OperationError('invalid-name', 'The company name must not be empty.');
  const every = (input.every ?? DEFAULT_EVERY).trim();
  parseEveryOrThrow(every);
  const timezone = (input.timezone ?? DEFAULT_TIMEZONE).trim();
  validateTimezone(timezone);
  const baseUrl = validateLuccaUrl(input.luccaUrl, config.LUCCA_ALLOWED_HOSTS);
  const apiKey = input.apiKey.trim();
  if (!apiKey) throw new OperationError('missing-api-key', 'The Lucca API key is empty.');
  const keyring = requireKeyring(config);
  const askedScope = input.scope === undefined ? undefined : validateScope(input.scope);
  const existing = await deps.repos.companies.get(companyId);
  const scope = askedScope === undefined ? (existing ? scopeOf(existing) : null) : askedScope;
  if (existing && input.createOnly) {
    throw new OperationError(
      'company-exists',
      `Company "${companyId}" already exists (Lucca ${existing.lucca.baseUrl}): choose another id, or change its connection from its own page.`,
    );
  }
  // Lucca user ids are per tenant: linked profiles followed to another tenant would take other people's data.
  const movesTenant = existing !== null && existing.lucca.baseUrl !== baseUrl;
  const linked = movesTenant ? await deps.repos.profiles.countLinked(companyId) : 0;
  if (linked > 0 && !input.relink) {
    throw new OperationError(
      'tenant-change',
      `Company "${companyId}" is connected to Lucca at ${existing!.lucca.baseUrl} with ${linked} linked profiles. ` +
        `Lucca user ids belong to one tenant: syncing them from ${baseUrl} would give those profiles other people's data. ` +
        `If the company really moved to that Lucca tenant, onboard again with --relink: its profiles are kept, unlinked, ` +
        `and the first sync attaches them again by email. Nothing was changed.`,
    );
  }

  // Every Lucca call of onboarding takes from the tenant's budget shared with the workers.
  const luccaOptions = {
    timeoutMs: config.LUCCA_TIMEOUT_MS,
    maxPageBytes: config.LUCCA_MAX_PAGE_BYTES,
    limiter: sharedLuccaBudget(deps, baseUrl, CLI_BUDGET_WAIT_MS),
  };
  const luccaPrincipal = await checkLuccaAccess(baseUrl, apiKey, { ...luccaOptions, maxRateLimitWaits: 2 });

  // The stamp stays only when nothing of the connection changes; a change waits for no run in flight.
  const kept =
    existing !== null && sameConnection(existing, baseUrl, apiKey, keyring) && sameLuccaScope(scopeOf(existing), scope)
      ? existing.lucca.connectionId
      : null;
  const connectionId = kept ?? randomUUID();
  const now = deps.now?.() ?? new Date();
  const save = async (overlaps: ScopeOverlap[] | null) => {
    if (existing !== null && kept === null) await refuseWhileRunInFlight(deps, companyId);
    // Unlinked before the new URL is stored: a failure in between leaves the company on its old
    // tenant with unlinked profiles, which its next sync attaches again — never the other way round.
    const unlinked = linked > 0 ? await deps.repos.profiles.unlinkCompany(companyId, now) : 0;
    await deps.repos.companies.upsert({
      id: companyId,
      name,
      timezone,
      baseUrl,
      encryptedApiKey: encryptApiKey(keyring, { companyId, baseUrl }, apiKey),
      apiKeyHint: apiKeyHint(apiKey),
      connectionId,
      scope,
      ...(overlaps ? { scopeOverlapAllowed: overlaps.length > 0 } : {}),
      every,
      now,
    });
    return { unlinked, overlaps: overlaps ?? [] };
  };
  // Who else this tenant's people go to: checked when the company, its tenant or its scope is new,
  // and saved under the tenant's claim so that a racing onboarding sees this one.
  const placed = existing === null || existing.lucca.baseUrl !== baseUrl || !sameLuccaScope(scopeOf(existing), scope);
  const { unlinked: unlinkedProfiles, overlaps } = placed
    ? await placeScope(
        deps,
        {
          companyId,
          baseUrl,
          scope,
          lucca: new LuccaClient({ baseUrl, apiKey, ...luccaOptions }),
          allowOverlap: input.allowOverlap ?? false,
          claim: input.claim,
        },
        save,
      )
    : await save(null);

  const wasOffboarded = existing !== null && existing.lucca.apiKey === null;
  // An existing schedule keeps its paused state; an offboarded company (schedule deleted) starts afresh.
  const schedule = await upsertCompanySchedule(deps.client, { companyId, every, taskQueue: config.TASK_QUEUE });
  if (wasOffboarded || schedule === 'created') {
    await deps.repos.companies.setSchedule(companyId, { paused: false }, now);
  }
  // The date roll at the company's local midnight, in its (possibly new) time zone, paused with the sync.
  const paused = !(wasOffboarded || schedule === 'created') && (existing?.sync.paused ?? false);
  await upsertCompanyDatesSchedule(deps.client, { companyId, timezone, taskQueue: config.TASK_QUEUE }, { paused });

  const firstSync = await sendSyncRequest(deps, {
    companyId,
    trigger: 'onboarding',
    requestedBy: input.requestedBy ?? defaultRequestedBy(),
    dryRun: false,
  });
  return {
    companyId,
    created: existing === null,
    baseUrl,
    apiKeyHint: apiKeyHint(apiKey),
    every,
    timezone,
    schedule,
    luccaPrincipal,
    unlinkedProfiles,
    connectionId,
    connectionChanged: kept === null,
    scope,
    overlaps,
    firstSync,
  };
}

/**
 * Whether a company is connected to `baseUrl` with `apiKey` already, under a stamp: then onboarding
 * again with the same scope keeps the stamp (and runs in flight stay valid). The stored key is decrypted to compare;
 * digests are compared in constant time.
 */
function sameConnection(company: CompanyDocument, baseUrl: string, apiKey: string, keyring: Keyring): boolean {
  const { lucca } = company;
  if (!lucca.connectionId || lucca.apiKey === null || lucca.baseUrl !== baseUrl) return false;
  let stored: string;
  try {
    stored = decryptApiKey(keyring, { companyId: company._id, baseUrl }, lucca.apiKey);
  } catch (err) {
    if (err instanceof ApiKeyDecryptError) return false;
    throw err;
  }
  const digest = (key: string) => createHash('sha256').update(key).digest();
  return timingSafeEqual(digest(stored), digest(apiKey));
}

/**
 * One cheap real Lucca call with `apiKey`, nothing stored: Lucca's principal for the key, or an
 * `OperationError` saying why not (with Lucca's HTTP status when Lucca refused). What onboarding
 * checks before saving, and the console's "test the connection".
 */
export async function checkLuccaAccess(
  baseUrl: string,
  apiKey: string,
  opts: { timeoutMs: number; maxPageBytes?: number; maxRateLimitWaits: number; limiter: LuccaRequestBudget | null },
): Promise<string | null> {
  try {
    const lucca = new LuccaClient({ baseUrl, apiKey, ...opts });
    return (await lucca.checkAccess()).principal;
  } catch (err) {
    if (err instanceof LuccaError) {
      throw new OperationError(err.code, `Lucca check failed, nothing was saved: ${err.message}`, err.status);
    }
    throw err;
  }
}
