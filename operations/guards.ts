import { guardsOf, GUARD_KINDS, type GuardKind, type GuardThreshold, type Guards } from '../domain/guards';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

/**
 * Sets the threshold of one of a company's mass-change guards (see `CompanyPlanner.verdict`): a
 * plan that would touch more than max(minCount, maxPercent% of active profiles) that way is
 * blocked until an operator confirms it. Returns the company's guards as they now are.
 */
export async function setGuard(
  deps: OperationsDeps,
  input: { companyId: string; kind: string; maxPercent: number; minCount: number },
): Promise<Guards> {
  const kind = input.kind as GuardKind;
  if (!GUARD_KINDS.includes(kind)) {
    throw new OperationError('invalid-guard', `"${input.kind}" is not a guard: use one of ${GUARD_KINDS.join(', ')}.`);
  }
  const threshold: GuardThreshold = { maxPercent: input.maxPercent, minCount: input.minCount };
  if (!(Number.isInteger(threshold.maxPercent) && threshold.maxPercent >= 0 && threshold.maxPercent <= 100)) {
    throw new OperationError(
      'invalid-guard',
      `maxPercent must be a whole number from 0 to 100, got ${input.maxPercent}.`,
    );
  }
  if (!(Number.isInteger(threshold.minCount) && threshold.minCount >= 0)) {
    throw new OperationError('invalid-guard', `minCount must be a whole number of profiles, got ${input.minCount}.`);
  }
  const now = deps.now?.() ?? new Date();
  if (!(await deps.repos.companies.setGuard(input.companyId, kind, threshold, now))) {
    throw companyNotFound(input.companyId);
  }
  const company = await deps.repos.companies.get(input.companyId);
  return guardsOf(company!.sync);
}
