import { createHash, randomUUID } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { scopeOf, syncRefusal, type CompanyDocument, type CompanyScope } from '../db/companies-repository';
import { guardsOf, type GuardHit } from '../domain/guards';
import { mapLuccaUser } from '../domain/map-lucca-user';
import { CompanyPlanner } from '../domain/plan-company';
import { companyToday } from '../domain/status';
import { LuccaClient, START_OF_USERS } from '../lucca/client';
import { LuccaError } from '../lucca/errors';
import {
  countUsersInScopes,
  luccaScopesOverlap,
  luccaUserOrganisation,
  normaliseLuccaScope,
  sameLuccaScope,
  splitByScope,
  tallyOrganisation,
  type LuccaOrganisation,
  type LuccaScope,
  type LuccaUserOrganisation,
} from '../lucca/scope';
import type { OperationsDeps } from './context';

export type { LuccaOrganisation, LuccaOrgUnitCount } from '../lucca/scope';
import { OperationError } from './errors';
import { companyLuccaClient, companyToChange } from './lucca-budget';
import { refuseWhileRunInFlight } from './run-in-flight';
import { withTenantClaim, type TenantClaimOptions } from './tenant-claim';

/**
 * A scope as an operator gave it, checked: sorted distinct Lucca ids, or null for the whole
 * tenant (no list, or empty lists). Ids that cannot be Lucca's are refused (`invalid-scope`).
 */
export function validateScope(scope: LuccaScope): CompanyScope | null {
  try {
    return normaliseLuccaScope(scope);
  } catch (err) {
    throw new OperationError(
      'invalid-scope',
      `The scope is not valid: ${err instanceof Error ? err.message : String(err)}.`,
    );
  }
}

/** The scope in words for messages and the CLI: ids only (names change; the console shows them). */
export function describeScope(scope: CompanyScope | null): string {
  if (!scope) return 'the whole Lucca tenant';
  const parts: string[] = [];
  if (scope.legalEntityIds.length > 0) parts.push(`legal entities ${scope.legalEntityIds.join(', ')}`);
  if (scope.departmentIds.length > 0) parts.push(`departments ${scope.departmentIds.join(', ')}`);
  return parts.join(' and ');
}

/** A scope as the audit log records what was asked: ids as lists in text (its values are flat). */
export function scopeAuditParams(scope: LuccaScope | undefined): Record<string, string> {
  if (scope === undefined) return {};
  return {
    legalEntityIds: (scope.legalEntityIds ?? []).join(','),
    departmentIds: (scope.departmentIds ?? []).join(','),
  };
}

/** Another company of the same Lucca tenant whose scope overlaps, and how many people are in both (null: not counted). */
export interface ScopeOverlap {
  companyId: string;
  name: string;
  scope: CompanyScope | null;
  people: number | null;
}

/**
 * Places a company with `scope` on its Lucca tenant (normalised URL): checks the tenant's other
 * companies for a scope that overlaps it — someone could be in both, now or after a move (see
 * `luccaScopesOverlap`) — and, when none does or `allowOverlap`, runs `save` with those it overlaps
 * (none, or the allowed ones, uncounted, for the caller to record). The check and the save hold the
 * tenant's claim (`withTenantClaim`), so two placements racing on one tenant go one after the
 * other and the second sees the first. An overlap not allowed is refused (`scope-overlap`) with
 * the companies' names and the people in both, counted from one read of the tenant's places once
 * the claim is released (under the rate limit that read may take minutes).
 */
export async function placeScope<T>(
  deps: OperationsDeps,
  input: {
    companyId: string;
    baseUrl: string;
    scope: CompanyScope | null;
    lucca: LuccaClient;
    allowOverlap: boolean;
    claim?: TenantClaimOptions | undefined;
  },
  save: (overlaps: ScopeOverlap[]) => Promise<T>,
): Promise<T> {
  const claim = { baseUrl: input.baseUrl, companyId: input.companyId, ...input.claim };
  const placed = await withTenantClaim(deps, claim, async (): Promise<{ saved: T } | { refused: ScopeOverlap[] }> => {
    const overlaps = await overlappingCompanies(deps, input);
    if (overlaps.length > 0 && !input.allowOverlap) return { refused: overlaps };
    return { saved: await save(overlaps) };
  });
  if ('saved' in placed) return placed.saved;
  const overlaps = placed.refused;
  let organisation: LuccaOrganisation;
  try {
    organisation = await input.lucca.readOrganisation();
  } catch (err) {
    if (err instanceof LuccaError) {
      throw new OperationError(
        err.code,
        `Lucca could not be read to check the scope, nothing was saved: ${err.message}`,
      );
    }
    throw err;
  }
  countOverlaps(overlaps, organisation, input.scope);
  throw new OperationError('scope-overlap', overlapMessage(input, overlaps));
}

/** The other live companies of the tenant whose scopes overlap `scope`, uncounted. */
async function overlappingCompanies(
  deps: OperationsDeps,
  input: { companyId: string; baseUrl: string; scope: CompanyScope | null },
): Promise<ScopeOverlap[]> {
  return (await deps.repos.companies.list())
    .filter(
      (c) =>
        c._id !== input.companyId &&
        c.lucca.baseUrl === input.baseUrl &&
        syncRefusal(c) === null &&
        luccaScopesOverlap(scopeOf(c), input.scope),
    )
    .map((c) => ({ companyId: c._id, name: c.name, scope: scopeOf(c), people: null }));
}

function countOverlaps(overlaps: ScopeOverlap[], organisation: LuccaOrganisation, scope: CompanyScope | null): void {
  for (const overlap of overlaps) {
    overlap.people = countUsersInScopes(organisation, [scope ?? {}, overlap.scope ?? {}]);
  }
}

/** Why a scope is refused for overlapping: the companies by name, their scopes, the people in both. */
export function overlapMessage(
  input: { companyId: string; baseUrl: string; scope: CompanyScope | null },
  overlaps: readonly ScopeOverlap[],
): string {
  const named = overlaps
    .map(
      (o) =>
        `"${o.name}" (${o.companyId}: ${describeScope(o.scope)}; ${o.people} ${o.people === 1 ? 'person' : 'people'} in both)`,
    )
    .join(', ');
  return (
    `The scope of "${input.companyId}" (${describeScope(input.scope)}) overlaps on Lucca ${input.baseUrl} with ${named}: ` +
    `people in both would be synced into both companies. Choose legal entities and departments that do not overlap, ` +
    `or allow it with --allow-overlap (recorded in the audit log). Nothing was changed.`
  );
}

/**
 * What a saved scope must still match of its preview: the company's connection, the scope, the
 * tenant's people per (legal entity, department) pair, and the companies it overlaps with their
 * scopes. Names are left out (a renamed unit is the same unit); so are the people's own data,
 * which the first run's guards still watch.
 */
export function scopePreviewToken(input: {
  companyId: string;
  connectionId: string | null;
  proposed: CompanyScope | null;
  organisation: Pick<LuccaOrganisation, 'pairs' | 'userCount'>;
  overlaps: readonly Pick<ScopeOverlap, 'companyId' | 'scope'>[];
}): string {
  const text = JSON.stringify([
    input.companyId,
    input.connectionId,
    input.proposed,
    input.organisation.userCount,
    input.organisation.pairs.map((p) => [p.legalEntityId, p.departmentId, p.userCount]),
    [...input.overlaps].map((o) => [o.companyId, o.scope]).sort(),
  ]);
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}

/** What a proposed scope would do to a company, from a dry run of it: counts only. */
export interface ScopePreview {
  companyId: string;
  current: CompanyScope | null;
  proposed: CompanyScope | null;
  /** The tenant's legal entities and departments with their people (names as Lucca has them now). */
  organisation: LuccaOrganisation;
  /** People of the tenant in the proposed scope. */
  inScope: number;
  profiles: {
    /** Platform profiles not linked yet, attached by email. */
    attached: number;
    created: number;
    /** Linked profiles still in the scope (updated or not). */
    kept: number;
    updated: number;
    reactivated: number;
    deactivatedOutOfScope: number;
    removedFromLucca: number;
    /** Other deactivations (contracts that ended). */
    deactivatedOther: number;
  };
  /** The guards the first run under this scope would fire (it would be blocked until applied anyway). */
  fired: GuardHit[];
  /** Lucca's data moved under the read: no one is counted as out of scope or removed. */
  moved: boolean;
  /** Other companies of the tenant the proposed scope overlaps, with the people in both: saving it would be refused. */
  overlaps: ScopeOverlap[];
  /** Carried to the save (`changeScope`'s `previewToken`): refused if the tenant or the overlaps changed since. */
  token: string;
}

/**
 * A dry run of a scope change, nothing written: one read of the whole tenant with the places of
 * its people (as many requests as the sync of the whole tenant), each page split by the proposed
 * scope at once — nothing of the people outside it is kept but their id — and the people inside
 * planned against the company's profiles as a run would plan them.
 */
export async function previewScope(
  deps: OperationsDeps,
  input: { companyId: string; scope: LuccaScope },
): Promise<ScopePreview> {
  const proposed = validateScope(input.scope);
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const lucca = companyLuccaClient(deps, company);
  const index = await deps.repos.profiles.loadCompanyIndex(company._id, company.lucca.baseUrl);
  const now = deps.now?.() ?? new Date();
  const planner = new CompanyPlanner({
    today: companyToday(company.timezone, now),
    index,
    newProfileId: () => new ObjectId().toHexString(),
  });
  const places = new Map<number, LuccaUserOrganisation>();
  const outside = new Set<number>();
  let moved = false;
  let inScope = 0;
  let kept = 0;
  try {
    for await (const page of lucca.usersPages(START_OF_USERS, undefined, { organisation: true })) {
      for (const item of page.items) {
        const id = (item as { id?: unknown } | null)?.id;
        if (typeof id === 'number') places.set(id, luccaUserOrganisation(item));
      }
      const split = proposed ? splitByScope(page.items, proposed) : { items: page.items, outOfScope: [] };
      for (const user of split.outOfScope) if (user.id !== null) outside.add(user.id);
      inScope += split.items.length;
      const users = split.items.map(mapLuccaUser);
      for (const user of users) if (user.luccaUserId !== null && index.linked(user.luccaUserId)) kept += 1;
      planner.planPage(page.page, users);
      moved = page.next.moved;
    }
  } catch (err) {
    if (err instanceof LuccaError) {
      throw new OperationError(
        err.code,
        `Lucca could not be read for the preview, nothing was changed: ${err.message}`,
      );
    }
    throw err;
  }
  // A linked person outside the proposed scope is out of scope; one the tenant does not have, removed.
  const removals = moved
    ? []
    : planner.planRemovals(
        new Map(
          planner
            .absentLinked()
            .filter((id) => outside.has(id))
            .map((id) => [id, 'out-of-scope' as const]),
        ),
      );
  const removed = (code: string) => removals.filter((c) => c.reasons.some((r) => r.code === code)).length;
  const { counts } = planner.tally;
  const deactivatedOutOfScope = removed('out-of-scope');
  const removedFromLucca = removed('removed-from-lucca');
  const verdict = planner.verdict(guardsOf(company.sync), null);
  const organisation = tallyOrganisation(places.values(), moved);
  const overlaps = await overlappingCompanies(deps, {
    companyId: company._id,
    baseUrl: company.lucca.baseUrl,
    scope: proposed,
  });
  countOverlaps(overlaps, organisation, proposed);
  return {
    companyId: company._id,
    current: scopeOf(company),
    proposed,
    organisation,
    inScope,
    profiles: {
      attached: counts.linked,
      created: counts.created,
      kept,
      updated: counts.updated,
      reactivated: counts.reactivated,
      deactivatedOutOfScope,
      removedFromLucca,
      deactivatedOther: counts.deactivated - deactivatedOutOfScope - removedFromLucca,
    },
    fired: verdict.fired,
    moved,
    overlaps,
    token: scopePreviewToken({
      companyId: company._id,
      connectionId: company.lucca.connectionId ?? null,
      proposed,
      organisation,
      overlaps,
    }),
  };
}

export interface ScopeChange {
  companyId: string;
  scope: CompanyScope | null;
  previous: CompanyScope | null;
  changed: boolean;
  connectionId: string;
  overlaps: ScopeOverlap[];
}

/**
 * Gives a company a new scope: a connection change (a new stamp), so refused while a run is in
 * flight, and checked for overlaps with the tenant's other companies like onboarding. Nothing is
 * synced here: the next run reads with it, deactivating out-of-scope whoever left it (guarded).
 */
export async function changeScope(
  deps: OperationsDeps,
  input: {
    companyId: string;
    scope: LuccaScope;
    allowOverlap?: boolean;
    previewToken?: string;
    /** While another placement of the tenant holds its claim: how long to wait, who to tell. */
    claim?: TenantClaimOptions;
  },
): Promise<ScopeChange> {
  const scope = validateScope(input.scope);
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const previous = scopeOf(company);
  const base = { companyId: company._id, scope, previous, overlaps: [] };
  if (sameLuccaScope(previous, scope)) {
    return { ...base, changed: false, connectionId: company.lucca.connectionId ?? '' };
  }
  if (input.previewToken !== undefined) await refuseStalePreview(deps, company, scope, input.previewToken);
  const connectionId = randomUUID();
  const overlaps = await placeScope(
    deps,
    {
      companyId: company._id,
      baseUrl: company.lucca.baseUrl,
      scope,
      lucca: companyLuccaClient(deps, company),
      allowOverlap: input.allowOverlap ?? false,
      claim: input.claim,
    },
    async (overlaps) => {
      await refuseWhileRunInFlight(deps, company._id);
      const saved = await deps.repos.companies.setScope(
        company._id,
        { scope, scopeOverlapAllowed: overlaps.length > 0, connectionId },
        company.lucca.connectionId,
        deps.now?.() ?? new Date(),
      );
      if (!saved) {
        throw new OperationError(
          'run-in-flight',
          `The Lucca connection of "${company._id}" changed while its scope was being changed. Nothing was changed: look at it again (status), then retry.`,
        );
      }
      return overlaps;
    },
  );
  return { ...base, overlaps, changed: true, connectionId };
}

/**
 * Refuses a save whose preview no longer holds: a run in flight, or the tenant's people per unit,
 * the overlapping companies or the connection changed since (one read of the tenant's places).
 */
async function refuseStalePreview(
  deps: OperationsDeps,
  company: CompanyDocument,
  proposed: CompanyScope | null,
  previewToken: string,
): Promise<void> {
  await refuseWhileRunInFlight(deps, company._id);
  let organisation: LuccaOrganisation;
  try {
    organisation = await companyLuccaClient(deps, company).readOrganisation();
  } catch (err) {
    if (err instanceof LuccaError) {
      throw new OperationError(
        err.code,
        `Lucca could not be read to check the preview, nothing was saved: ${err.message}`,
      );
    }
    throw err;
  }
  const overlaps = await overlappingCompanies(deps, {
    companyId: company._id,
    baseUrl: company.lucca.baseUrl,
    scope: proposed,
  });
  const now = scopePreviewToken({
    companyId: company._id,
    connectionId: company.lucca.connectionId ?? null,
    proposed,
    organisation,
    overlaps,
  });
  if (now !== previewToken) {
    throw new OperationError(
      'scope-preview-stale',
      `The scope of "${company._id}" was not saved: the tenant or the companies on it changed since the preview ` +
        `(people per legal entity and department, overlapping companies, or the connection). Nothing was changed: preview it again, then save.`,
    );
  }
}

/** A company's scope as stored, null for the whole tenant (for pages that show it). */
export const currentScope = (company: CompanyDocument): CompanyScope | null => scopeOf(company);
