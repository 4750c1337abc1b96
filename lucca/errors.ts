/**
 * Typed failures of the Lucca client, and the one table that maps an HTTP status to them.
 *
 * Messages are shown to operators and end up in Temporal history, which is stored unencrypted:
 * they may name the Lucca host, never the API key, the Authorization header or employee data.
 */

import type { LuccaFailureCode } from '../domain/failures';

interface LuccaErrorInit {
  code: LuccaFailureCode;
  retryable: boolean;
  status?: number;
}

export class LuccaError extends Error {
  readonly code: LuccaFailureCode;
  readonly status?: number;
  readonly retryable: boolean;

  constructor(message: string, init: LuccaErrorInit) {
    super(message);
    this.name = new.target.name;
    this.code = init.code;
    this.retryable = init.retryable;
    if (init.status !== undefined) this.status = init.status;
  }
}

/** The key is unknown, revoked or lacks a permission: retrying cannot help, an operator must act. */
export class LuccaAuthError extends LuccaError {
  constructor(message: string, status?: number) {
    super(message, { code: 'lucca-auth', retryable: false, status });
  }
}

/** Lucca's budget (50 requests per minute per tenant) is shared with the company's other integrations. */
export class LuccaRateLimitedError extends LuccaError {
  readonly retryAfterMs: number | null;

  /** `status` null: refused here, before asking Lucca (the shared budget had no room in time). */
  constructor(message: string, retryAfterMs: number | null, status: number | null = 429) {
    super(message, { code: 'lucca-rate-limited', retryable: true, status: status ?? undefined });
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx, 408, timeouts, resets, truncated bodies: worth retrying later with backoff. */
export class LuccaTransientError extends LuccaError {
  constructor(message: string, status?: number) {
    super(message, { code: 'lucca-unavailable', retryable: true, status });
  }
}

/** Lucca understood the request and refused it (400, 404, other 4xx): the same request will fail again. */
export class LuccaRequestError extends LuccaError {
  constructor(message: string, status?: number) {
    super(message, { code: 'lucca-request', retryable: false, status });
  }
}

/** Something answered, but not the way Lucca does: most likely a wrong domain. */
export class LuccaNotLuccaError extends LuccaError {
  constructor(message: string, status?: number) {
    super(message, { code: 'lucca-not-lucca', retryable: false, status });
  }
}

/** A requested field absent from every user of a page: a permission lost, not data. */
export class LuccaMissingFieldError extends LuccaError {
  constructor(message: string) {
    super(message, { code: 'lucca-missing-field', retryable: false });
  }
}

/** An extra field absent from every user of a page: the key's role cannot see its HR-file section. */
export class LuccaHiddenFieldError extends LuccaError {
  constructor(message: string) {
    super(message, { code: 'lucca-hidden-field', retryable: false });
  }
}

/** An answer past the byte cap: the same request would bring the same runaway answer. */
export class LuccaTooLargeError extends LuccaError {
  constructor(message: string, status?: number) {
    super(message, { code: 'lucca-too-large', retryable: false, status });
  }
}

/** No answer at all (DNS, refused connection, TLS): retryable, since networks and DNS recover. */
export class LuccaUnreachableError extends LuccaError {
  constructor(message: string) {
    super(message, { code: 'lucca-unreachable', retryable: true });
  }
}

export interface ErrorContext {
  /** The Lucca host, named in messages so an operator knows which tenant failed. */
  host?: string;
  /** The clock `Retry-After` dates are measured against. */
  now?: Date;
}

/** The one table from a non-success HTTP status to a typed error. */
export function errorForStatus(status: number, retryAfter: string | null, context: ErrorContext = {}): LuccaError {
  const at = context.host ? `Lucca (${context.host})` : 'Lucca';
  if (status === 401) {
    return new LuccaAuthError(
      `${at} refused the API key (401): it is unknown or was revoked. ` +
        `Ask the company's Lucca admin for a new API key and run onboard again.`,
      status,
    );
  }
  if (status === 403) {
    return new LuccaAuthError(
      `${at} accepted the API key but it lacks a permission (403): the key's role must be able to read the ` +
        `users directory, including former employees. Ask the company's Lucca admin to grant it and run onboard again.`,
      status,
    );
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter, context.now ?? new Date());
    const when = retryAfterMs === null ? 'later' : `in ${Math.ceil(retryAfterMs / 1000)}s`;
    return new LuccaRateLimitedError(
      `${at} rate limit reached (429; 50 requests per minute per company, shared with its other integrations). Retry ${when}.`,
      retryAfterMs,
      status,
    );
  }
  if (status === 408) {
    // Lucca aborts any request that runs over 5 seconds with a 408.
    return new LuccaTransientError(`${at} timed out on its side (408). Retry later.`, status);
  }
  if (status >= 500 && status <= 599) {
    return new LuccaTransientError(`${at} is unavailable (HTTP ${status}). Retry later.`, status);
  }
  if (status === 404) {
    return new LuccaRequestError(
      `${at} has no users directory at this address (404). Check the Lucca domain (https://<account>.ilucca.net).`,
      status,
    );
  }
  if (status >= 400 && status <= 499) {
    return new LuccaRequestError(`${at} rejected the request (HTTP ${status}).`, status);
  }
  if (status >= 300 && status <= 399) {
    // Lucca's API answers directly; a redirect is typically a login page or a domain that moved.
    return new LuccaNotLuccaError(
      `${at} answered with a redirect (HTTP ${status}) instead of data. Check the Lucca domain.`,
      status,
    );
  }
  return new LuccaNotLuccaError(`${at} answered with an unexpected HTTP status ${status}.`, status);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
const RFC850_DATE = /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
const ASCTIME_DATE = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * `Retry-After` as milliseconds from `now` (never negative), or null when absent or unreadable.
 * Lucca does not document the format, so both delay-seconds and the three HTTP-date forms of
 * RFC 9110 are accepted. `Date.parse` is not used: it reads strings like "1" or "soon 5" as dates.
 */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (value === null) return null;
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = parseHttpDate(text, now);
  return at === null ? null : Math.max(0, at - now.getTime());
}

function parseHttpDate(text: string, now: Date): number | null {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = RFC850_DATE.exec(text);
  if (m) {
    // RFC 9110: a two-digit year more than 50 years ahead belongs to the previous century.
    const thisYear = now.getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), m[4], m[5], m[6]);
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1], Number(m[2]?.trim()), m[3], m[4], m[5]);
  return null;
}

function utc(
  year: number,
  monthName: string | undefined,
  day: number,
  hh: string | undefined,
  mm: string | undefined,
  ss: string | undefined,
): number | null {
  const month = MONTHS.indexOf(monthName ?? '');
  const [hour, minute, second] = [Number(hh), Number(mm), Number(ss)];
  if (month < 0 || hour > 23 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls "31 Feb" over into March; a real HTTP-date never does.
  return new Date(ms).getUTCDate() === day ? ms : null;
}
