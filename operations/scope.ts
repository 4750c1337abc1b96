import type { CompanyScope } from '../db/companies-repository';
import { normaliseLuccaScope, type LuccaScope } from '../lucca/scope';
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
