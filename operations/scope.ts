import { scopeOf, syncRefusal, type CompanyScope } from '../db/companies-repository';
import type { LuccaClient } from '../lucca/client';
import { LuccaError } from '../lucca/errors';
import {
  countUsersInScopes,
  luccaScopesOverlap,
  normaliseLuccaScope,
  type LuccaOrganisation,
  type LuccaScope,
} from '../lucca/scope';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';

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
 * The other companies connected to the same Lucca tenant (normalised URL) whose scopes overlap
 * `scope` — someone could be in both, now or after a move (see `luccaScopesOverlap`). Refused
 * (`scope-overlap`) with their names and the people in both, counted from one read of the
 * tenant's places with `lucca`, unless `allowOverlap`: then they are returned, uncounted, for
 * the caller to record.
 */
export async function checkScopeOverlap(
  deps: OperationsDeps,
  input: { companyId: string; baseUrl: string; scope: CompanyScope | null; lucca: LuccaClient; allowOverlap: boolean },
): Promise<ScopeOverlap[]> {
  const others = (await deps.repos.companies.list()).filter(
    (c) =>
      c._id !== input.companyId &&
      c.lucca.baseUrl === input.baseUrl &&
      syncRefusal(c) === null &&
      luccaScopesOverlap(scopeOf(c), input.scope),
  );
  if (others.length === 0) return [];
  const overlaps: ScopeOverlap[] = others.map((c) => ({
    companyId: c._id,
    name: c.name,
    scope: scopeOf(c),
    people: null,
  }));
  if (input.allowOverlap) return overlaps;
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
  for (const overlap of overlaps) {
    overlap.people = countUsersInScopes(organisation, [input.scope ?? {}, overlap.scope ?? {}]);
  }
  const named = overlaps
    .map(
      (o) =>
        `"${o.name}" (${o.companyId}: ${describeScope(o.scope)}; ${o.people} ${o.people === 1 ? 'person' : 'people'} in both)`,
    )
    .join(', ');
  throw new OperationError(
    'scope-overlap',
    `The scope of "${input.companyId}" (${describeScope(input.scope)}) overlaps on Lucca ${input.baseUrl} with ${named}: ` +
      `people in both would be synced into both companies. Choose legal entities and departments that do not overlap, ` +
      `or allow it with --allow-overlap (recorded in the audit log). Nothing was changed.`,
  );
}
