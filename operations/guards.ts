import {
  guardsOf,
  GUARD_KINDS,
  thresholdProblem,
  type GuardKind,
  type GuardThreshold,
  type Guards,
} from '../domain/guards';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

/**
 * Sets the threshold of one of a company's mass-change guards (see `guardLimit`): a plan that
 * would touch more linked profiles than its limit that way is blocked until an operator confirms
 * it. Returns the company's guards as they now are.
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
  const problem = thresholdProblem(threshold);
  if (problem) throw new OperationError('invalid-guard', problem);
  const now = deps.now?.() ?? new Date();
  if (!(await deps.repos.companies.setGuard(input.companyId, kind, threshold, now))) {
    throw companyNotFound(input.companyId);
  }
  const company = await deps.repos.companies.get(input.companyId);
  return guardsOf(company!.sync);
}
