/**
 * An operation refused or could not do what was asked. The message is one operator-facing
 * sentence (the CLI prints it as is) and never carries an API key or employee data.
 */
export class OperationError extends Error {
  constructor(
    readonly code: string,
    message: string,
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
