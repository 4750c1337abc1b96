import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ApiKeyDecryptError } from '../db/api-key-cipher';
import { failureType } from '../domain/failures';
import { LuccaError, LuccaRateLimitedError } from '../lucca/errors';

/**
 * The one place errors become Temporal failures. Lucca's own verdict decides retryability; a
 * 429's Retry-After becomes the next retry delay. Unknown errors are rethrown as they are
 * (retryable) — but only with their message: driver errors can quote a filter, so their
 * details and stack are not forwarded into history.
 */
export function toTemporalFailure(err: unknown): ApplicationFailure | CancelledFailure {
  // Cancellation (worker shutdown, run cancelled) must stay a cancellation, not become a retry.
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof LuccaError) {
    return ApplicationFailure.create({
      type: failureType(err.code),
      message: err.message,
      nonRetryable: !err.retryable,
      ...(err instanceof LuccaRateLimitedError && err.retryAfterMs !== null
        ? { nextRetryDelay: err.retryAfterMs }
        : {}),
    });
  }
  if (err instanceof ApiKeyDecryptError) {
    return ApplicationFailure.create({ type: failureType('configuration'), message: err.message, nonRetryable: true });
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : 'Unknown error';
  return ApplicationFailure.create({ type: failureType('internal'), message, nonRetryable: false });
}
