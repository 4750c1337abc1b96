import { ApplicationFailure, CancelledFailure, CompleteAsyncError } from '@temporalio/common';
import { ApiKeyDecryptError } from '../db/api-key-cipher';
import { describeStoreError } from '../db/errors';
import { failureType } from '../domain/failures';
import { LuccaError, LuccaRateLimitedError } from '../lucca/errors';

/**
 * The one place errors become Temporal failures. Lucca's own verdict decides retryability; a
 * 429's Retry-After becomes the next retry delay. Anything else is retried, with a message that
 * says what failed and nothing of the data: a store error keeps its code and a fixed sentence
 * (its message and fields can quote a key or a whole document), another error its name and
 * message. No details, cause or driver stack are forwarded into history.
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
  const { name, message } = describeError(err);
  return ApplicationFailure.create({
    type: failureType(describeStoreError(err) === null ? 'internal' : 'storage'),
    message: `${name}: ${message}`,
    nonRetryable: false,
  });
}

/** What may be said of any error in a log line or a failure: name, code and a message free of data. */
export interface ErrorSummary {
  name: string;
  code?: string | number;
  message: string;
}

// Emails are what an unforeseen message is likeliest to quote (a driver, a parser); a host or a
// MongoDB URI (`//***@127.0.0.1`) has no top-level domain of letters and is kept.
const EMAIL_LIKE = /[^\s@<>()[\]{}"'`,;:]+@[^\s@<>()[\]{}"'`,;:]+\.[A-Za-z]{2,}\b/g;

/**
 * Name, code and message of an error, the message made safe: a store server's is replaced by a
 * fixed sentence (see `describeStoreError`), and anything shaped like an email is masked in any
 * other. Nothing else of the error (stack, fields, cause) is read.
 */
export function describeError(err: unknown): ErrorSummary {
  if (!(err instanceof Error)) return { name: 'Error', message: 'A value that is not an Error was thrown.' };
  const { code, type } = err as { code?: unknown; type?: unknown };
  const summary: ErrorSummary = {
    name: err.name,
    message: (describeStoreError(err) ?? String(err.message)).replace(EMAIL_LIKE, '<email>'),
  };
  // A Temporal failure's `type` is the code it travels as (e.g. LuccaAuthError).
  const named = typeof code === 'string' || typeof code === 'number' ? code : typeof type === 'string' ? type : null;
  if (named !== null) summary.code = named;
  return summary;
}

/** Errors the worker must see as they are: they are signals, not failures (cancellation, async completion). */
const isWorkerSignal = (err: unknown): boolean =>
  err instanceof CompleteAsyncError || (err instanceof Error && err.name === 'AbortError');

type ActivityFunction = (...args: never[]) => Promise<unknown>;

/**
 * The activities, each made to throw only what `toTemporalFailure` makes of its errors. Applied
 * once where the worker's activities are put together, so no activity, present or future, can
 * let a driver error (and the documents it carries) reach history or the worker's log.
 */
export function translatingFailures<T extends Record<string, ActivityFunction>>(activities: T): T {
  const wrapped = Object.entries(activities).map(([name, fn]) => [
    name,
    async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw isWorkerSignal(err) ? err : toTemporalFailure(err);
      }
    },
  ]);
  return Object.fromEntries(wrapped) as T;
}

/**
 * The Temporal client an activity needs to reach other workflows; a worker built without one
 * cannot run it, which retrying does not change.
 */
export function requireTemporal<T>(temporal: T | undefined, activity: string): T {
  if (temporal) return temporal;
  throw ApplicationFailure.create({
    type: failureType('configuration'),
    message: `${activity} needs a Temporal client: the worker was built without \`temporal\` in its activity dependencies.`,
    nonRetryable: true,
  });
}
