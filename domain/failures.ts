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
  /** No answer at all (DNS, refused connection, TLS): retried, then the run fails. */
  'lucca-unreachable': 'LuccaUnreachableError',
  /** The worker cannot do the job as configured (e.g. the key does not decrypt with this secret). */
  configuration: 'ConfigurationError',
  'company-not-found': 'CompanyNotFoundError',
  /** The company is offboarded, or being offboarded: it gets no new run and no new workflow. */
  offboarded: 'CompanyOffboardedError',
  /** The company workflow's queue holds as many kinds of request as it takes: the request was refused. */
  'queue-full': 'SyncQueueFullError',
  /** An activity whose checkpoint stopped moving (a store or a request that never answered). */
  stalled: 'SyncStalledError',
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

import type { GuardHit, GuardKind } from './types';

/** A blocked run's `error.code`: the (first) guard that stopped its plan before any write. */
const CODE_BY_GUARD = {
  deactivate: 'mass-deactivation',
  blank: 'mass-blanking',
  email: 'mass-email-change',
  reactivate: 'mass-reactivation',
} as const satisfies Record<GuardKind, string>;
export type GuardCode = (typeof CODE_BY_GUARD)[GuardKind];

/** The code a guard goes by in a blocked run's `error.code` (and the metrics' `guard` label). */
export function guardCode(kind: GuardKind): GuardCode {
  return CODE_BY_GUARD[kind];
}

/** `syncRuns.error`: why a run failed, or which guard blocked it; one operator-facing sentence. */
export interface RunError {
  code: FailureCode | GuardCode;
  message: string;
}

const WHAT_GUARD_COUNTS: Record<GuardKind, (hit: GuardHit) => string> = {
  deactivate: (h) => `deactivate ${h.count} profiles`,
  blank: (h) => `blank ${h.field ?? 'a field'} on ${h.count} profiles`,
  email: (h) => `change the email of ${h.count} linked profiles`,
  reactivate: (h) => `reactivate ${h.count} profiles`,
};

/**
 * Why a plan was held back, for the run's `error`: every guard that fired, with its count and
 * limit. Counts only. Runs planned before there was more than one guard carry no `fired` list:
 * their one guard was the deactivations'.
 */
export function blockedPlanError(plan: {
  fired?: GuardHit[];
  deactivations: number;
  activeProfiles: number;
  limit: number;
}): RunError {
  const fired = plan.fired ?? [{ guard: 'deactivate', count: plan.deactivations, limit: plan.limit }];
  const what = fired
    .map((h) => {
      const bound = h.reviewed === undefined ? `limit ${h.limit}` : `more than the ${h.reviewed} confirmed`;
      return `${WHAT_GUARD_COUNTS[h.guard](h)} (${bound})`;
    })
    .join(', ');
  // The guard to name first is one the override did not cover, when this plan went past one.
  const first = fired.find((h) => h.reviewed !== undefined) ?? fired[0];
  return {
    code: CODE_BY_GUARD[first?.guard ?? 'deactivate'],
    message:
      `The plan would ${what}, out of ${plan.activeProfiles} active profiles; nothing was written. ` +
      `Check the Lucca key's permissions and the report's planned changes, then apply this run ` +
      `anyway (console: "Apply anyway"; CLI: sync --allow-mass-deactivation) if the changes are ` +
      `real: the next run may then go up to these counts, not past them.`,
  };
}
