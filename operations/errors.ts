import type { LuccaFailureCode } from '../domain/failures';

/** Why an operation refused: a Lucca failure in the sync's own words, or what the operator asked wrong. */
export type OperationErrorCode =
  | LuccaFailureCode
  | 'company-not-found'
  | 'offboarded'
  | 'invalid-company-id'
  | 'invalid-name'
  | 'invalid-timezone'
  | 'invalid-lucca-url'
  | 'not-a-lucca-host'
  | 'missing-api-key'
  | 'api-key-argument'
  | 'invalid-every'
  | 'company-exists'
  | 'tenant-change'
  | 'run-in-flight'
  | 'invalid-scope'
  | 'invalid-extra-field'
  | 'scope-overlap'
  | 'scope-preview-stale'
  | 'tenant-busy'
  | 'invalid-guard'
  | 'schedule-not-found'
  | 'run-not-found'
  | 'wait-timeout'
  | 'nothing-to-override'
  | 'queue-full'
  | 'request-failed'
  | 'no-worker'
  | 'invalid-alert-target'
  | 'usage';

/**
 * An operation refused or could not do what was asked. The message is one operator-facing
 * sentence (the CLI prints it as is) and never carries an API key or employee data.
 */
export class OperationError extends Error {
  constructor(
    readonly code: OperationErrorCode,
    message: string,
    /** The HTTP status Lucca answered, when Lucca refused (401 bad key, 403 missing permission). */
    readonly luccaStatus?: number,
  ) {
    super(message);
    this.name = 'OperationError';
  }
}

export function companyNotFound(companyId: string): OperationError {
  return new OperationError(
    'company-not-found',
    `Company "${companyId}" is not onboarded. See \`npm run cli -- status\` for the companies there are.`,
  );
}
