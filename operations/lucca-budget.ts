import { requireKeyring } from '../config/env';
import { decryptApiKey } from '../db/api-key-cipher';
import { syncRefusal, type CompanyDocument } from '../db/companies-repository';
import { LuccaClient } from '../lucca/client';
import type { LuccaRequestBudget } from '../lucca/rate-limiter';
import { SharedLuccaBudget } from '../lucca/shared-budget';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

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

/** The company an operator command changes or reads Lucca for: it must exist and not be offboarded. */
export function companyToChange(company: CompanyDocument | null, companyId: string): CompanyDocument {
  if (!company) throw companyNotFound(companyId);
  if (syncRefusal(company) !== null) {
    throw new OperationError('offboarded', `Company "${companyId}" is offboarded: onboard it again first.`);
  }
  return company;
}

/**
 * A Lucca client with a stored company's key, for a command outside a sync (a scope or field
 * preview reads the whole tenant): from the tenant's budget shared with the workers.
 */
export function companyLuccaClient(deps: OperationsDeps, company: CompanyDocument): LuccaClient {
  const { baseUrl } = company.lucca;
  const apiKey = decryptApiKey(requireKeyring(deps.config), { companyId: company._id, baseUrl }, company.lucca.apiKey!);
  return new LuccaClient({
    baseUrl,
    apiKey,
    timeoutMs: deps.config.LUCCA_TIMEOUT_MS,
    maxPageBytes: deps.config.LUCCA_MAX_PAGE_BYTES,
    limiter: sharedLuccaBudget(deps, baseUrl, CLI_BUDGET_WAIT_MS),
  });
}
