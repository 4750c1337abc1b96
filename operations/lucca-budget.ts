import type { LuccaRequestBudget } from '../lucca/rate-limiter';
import { SharedLuccaBudget } from '../lucca/shared-budget';
import type { OperationsDeps } from './context';

/**
 * How long onboarding's key check waits for room in the tenant's budget: a minute and a half is one
 * window with room to spare, so it gets through while syncs of the tenant use the rest.
 */
export const CLI_BUDGET_WAIT_MS = 90_000;

/**
 * The tenant's Lucca budget shared with every worker and command (LUCCA_RATE_LIMIT; null when it is
 * `off`), for a call outside a sync. `maxWaitMs` bounds the wait for a slot; past it the call fails
 * with `lucca-rate-limited`, saying until when the budget is taken.
 */
export function sharedLuccaBudget(deps: OperationsDeps, baseUrl: string, maxWaitMs: number): LuccaRequestBudget | null {
  const limits = deps.config.LUCCA_RATE_LIMIT;
  return limits ? new SharedLuccaBudget(deps.repos.luccaBudgets, baseUrl, { ...limits, maxWaitMs }) : null;
}
