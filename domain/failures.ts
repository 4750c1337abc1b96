import type { GuardCode } from './guards';

/**
 * The one vocabulary of failures: a Lucca error's `code`, the `type` of the Temporal failure an
 * activity throws, a failed run's `syncRuns.error.code`, and what the console and the CLI say.
 * A plain table, so workflow code can import it without pulling in activity code.
 */

/**
 * Every failure code, with the Temporal failure type it travels as. The types are recorded in
 * workflow histories: never rename one (a replayed history would no longer be recognised).
 */
const TYPE_BY_CODE = {
  /** Lucca refused the key (401) or the key lacks a permission (403): an operator must act. */
  'lucca-auth': 'LuccaAuthError',
  /** Lucca refused the request itself (404, other 4xx): the same request fails again. */
  'lucca-request': 'LuccaRequestError',
  /** Something answered, not the way Lucca does: most likely a wrong domain. */
  'lucca-not-lucca': 'LuccaNotLuccaError',
  /** 5xx, 408, timeouts, truncated bodies: retried, then the run fails. */
  'lucca-unavailable': 'LuccaUnavailableError',
  /** 429 past the waits the client allows itself: retried after Retry-After, then the run fails. */
  'lucca-rate-limited': 'LuccaRateLimitedError',
  /**
   * A field the sync asked for is missing from Lucca's answer: the key's role most likely lost a
   * permission. Read as null it would blank the field for everyone, so the read stops instead.
   */
  'lucca-missing-field': 'LuccaMissingFieldError',
  /**
   * A Lucca answer larger than LUCCA_MAX_PAGE_BYTES: stopped as it streamed, before it could fill
   * the worker's memory. Not retried: the same request gets the same answer.
   */
  'lucca-too-large': 'LuccaTooLargeError',
  /**
   * Lucca answered with no user at all while the company has linked profiles. A tenant keeps its
   * leavers (the read asks for former employees), so an empty directory is a wrong answer — a key
   * whose role sees nobody, a tenant emptied by mistake — never a reason to deactivate everyone.
   */
  'lucca-empty': 'LuccaEmptyError',
  /** No answer at all (DNS, refused connection, TLS): retried, then the run fails. */
  'lucca-unreachable': 'LuccaUnreachableError',
  /**
   * The company's Lucca connection (URL, key) changed while the run was in flight: what it read
   * belongs to the old connection, so it writes nothing. Not retried; the next run reads the new one.
   */
  'connection-changed': 'ConnectionChangedError',
  /** The worker cannot do the job as configured (e.g. the key does not decrypt with this secret). */
  configuration: 'ConfigurationError',
  'company-not-found': 'CompanyNotFoundError',
  /** The company is offboarded, or being offboarded: it gets no new run and no new workflow. */
  offboarded: 'CompanyOffboardedError',
  /** The company workflow's queue holds as many kinds of request as it takes: the request was refused. */
  'queue-full': 'SyncQueueFullError',
  /** An activity whose checkpoint stopped moving (a store or a request that never answered). */
  stalled: 'SyncStalledError',
  /**
   * A step of the run (an activity, every retry included) or the whole run took longer than its
   * bound, set from the company's size and Lucca's rate limit (`domain/run-bounds.ts`): the run
   * stopped, recorded its failure and dropped its working data, and the company's queue moves on.
   */
  'run-too-long': 'SyncRunTooLongError',
  /** MongoDB kept failing. */
  storage: 'StorageError',
  /** The run was cancelled (the company was offboarded): it stopped where it was and its working data was removed. */
  cancelled: 'SyncCancelledError',
  /** The run's workflow ended without finishing the run (terminated, timed out): the sweeper closed it. */
  abandoned: 'SyncAbandonedError',
  /**
   * The activity's worker was shutting down (a deploy, SIGTERM): the attempt stopped at its
   * checkpoint and Temporal retries it from there at once, on another worker.
   */
  'worker-shutdown': 'WorkerShutdownError',
  /** Anything else: a bug. */
  internal: 'InternalError',
} as const;

export type FailureCode = keyof typeof TYPE_BY_CODE;
export type LuccaFailureCode = Extract<FailureCode, `lucca-${string}`>;

/** The Temporal failure type a failure code travels as. */
export function failureType(code: FailureCode): string {
  return TYPE_BY_CODE[code];
}

const CODE_BY_TYPE = new Map<string, FailureCode>(
  Object.entries(TYPE_BY_CODE).map(([code, type]) => [type, code as FailureCode]),
);

/** The failure code of a Temporal failure type; null for a type this vocabulary does not hold. */
export function failureCode(type: string | null | undefined): FailureCode | null {
  return CODE_BY_TYPE.get(type ?? '') ?? null;
}

export function isLuccaFailure(code: FailureCode | null): code is LuccaFailureCode {
  return code !== null && code.startsWith('lucca-');
}

/** `syncRuns.error`: why a run failed, or which guard blocked it; one operator-facing sentence. */
export interface RunError {
  code: FailureCode | GuardCode;
  message: string;
}
