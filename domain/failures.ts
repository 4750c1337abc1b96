/**
 * Failure types thrown by activities and branched on by workflows — a plain table so workflow
 * code can import it without pulling in activity code.
 */
export const FailureType = {
  luccaAuth: 'LuccaAuthError',
  luccaRequest: 'LuccaRequestError',
  luccaNotLucca: 'LuccaNotLuccaError',
  luccaUnavailable: 'LuccaUnavailableError',
  config: 'ConfigurationError',
  companyMissing: 'CompanyNotFoundError',
  /** An activity whose checkpoint stopped moving (a store or a request that never answered). */
  stalled: 'SyncStalledError',
} as const;

/** A failed run's `syncRuns.error.code`, by failure type. */
export const ERROR_CODE_BY_TYPE: Readonly<Record<string, string>> = {
  [FailureType.luccaAuth]: 'lucca-auth',
  [FailureType.luccaRequest]: 'lucca-request',
  [FailureType.luccaNotLucca]: 'lucca-not-lucca',
  [FailureType.luccaUnavailable]: 'lucca-unavailable',
  [FailureType.config]: 'configuration',
  [FailureType.companyMissing]: 'company-not-found',
  [FailureType.stalled]: 'stalled',
};
