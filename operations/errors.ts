/**
 * An operation refused or could not do what was asked. The message is one operator-facing
 * sentence (the CLI prints it as is) and never carries an API key or employee data.
 */
export class OperationError extends Error {
  constructor(
    readonly code: string,
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
