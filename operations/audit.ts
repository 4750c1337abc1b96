import type { AuditEntry, AuditLogRepository, AuditOutcome, AuditParams } from '../db/audit-log-repository';
import { COMPANY_ID_PATTERN } from '../domain/types';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';

/**
 * How long audit entries are kept. They hold operators' handles (personal data of the platform's
 * own staff) and nothing else personal; two years covers the yearly reviews and an investigation
 * of the year before, and keeps the log from growing forever. Older buckets of a company's log are
 * dropped as its next entries are written; reads never show an entry older than this.
 */
export const AUDIT_RETENTION_DAYS = 730;
export const AUDIT_SOURCES = ['console', 'cli'] as const;

/** Every state-changing operator action, by the name the log gives it. */
export const AUDIT_ACTIONS = [
  'onboard',
  'change-connection',
  'relink',
  'change-scope',
  'change-fields',
  'sync',
  'dry-run',
  'apply-anyway',
  'schedule-every',
  'pause',
  'resume',
  'guard',
  'offboard',
  'rotate-key',
  'add-alert-target',
  'remove-alert-target',
  'test-alert',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditActor {
  actor: string;
  source: (typeof AUDIT_SOURCES)[number];
}

export interface AuditedAction<T> {
  companyId: string;
  action: AuditAction;
  /** What the operator asked for, non-secret only (a dry run, a frequency, a guard's threshold…). */
  params?: AuditParams;
  /** What the result adds (ids of the request, the Lucca URL it was saved with…), non-secret only. */
  details?: (result: T) => AuditParams;
}

const retainAfter = (deps: OperationsDeps) =>
  new Date((deps.now?.() ?? new Date()).getTime() - AUDIT_RETENTION_DAYS * 24 * 3600 * 1000);

/** How an operation ended, as the log says it: an error code, never a message (which may quote anything). */
export function auditOutcomeOf(err: unknown): { outcome: AuditOutcome; code: string } {
  if (err instanceof OperationError) return { outcome: 'refused', code: err.code };
  const name = err instanceof Error && /^\w{1,64}$/.test(err.name) ? err.name : 'Error';
  return { outcome: 'error', code: `internal:${name}` };
}

/**
 * Runs a state-changing operation and records it in the company's audit log — done, refused or
 * failed — then hands back its result or rethrows its error. The one way entry points (console
 * handlers, CLI commands) record what operators do.
 */
export async function audited<T>(
  deps: OperationsDeps,
  who: AuditActor,
  what: AuditedAction<T>,
  operation: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await operation();
  } catch (err) {
    // The operation's own error is what the caller must see: a failure to record it is not.
    await recordAudit(deps, who, what, auditOutcomeOf(err)).catch(() => undefined);
    throw err;
  }
  await recordAudit(
    deps,
    who,
    { ...what, params: { ...what.params, ...what.details?.(result) } },
    { outcome: 'ok', code: null },
  );
  return result;
}

/**
 * Appends one entry. Nothing is recorded for an id that is not a company's (not a slug, or no
 * such company): there is no company log to hold it, and the caller already says why.
 */
export async function recordAudit(
  deps: OperationsDeps,
  who: AuditActor,
  what: Pick<AuditedAction<never>, 'companyId' | 'action' | 'params'>,
  result: { outcome: AuditOutcome; code: string | null },
): Promise<AuditEntry | null> {
  if (!COMPANY_ID_PATTERN.test(what.companyId)) return null;
  if (result.code === 'company-not-found') return null;
  return deps.repos.auditLog.append(
    {
      at: deps.now?.() ?? new Date(),
      companyId: what.companyId,
      actor: who.actor,
      source: who.source,
      action: what.action,
      params: what.params ?? {},
      outcome: result.outcome,
      code: result.code,
    },
    retainAfter(deps),
  );
}

export interface AuditQuery {
  companyId: string;
  limit?: number;
  beforeSeq?: number;
  since?: Date;
}

export const AUDIT_EXPORT_LIMIT = 100_000;

/** A company's audit entries, newest first (the latest 50 by default). */
export function listAudit(deps: OperationsDeps, query: AuditQuery): Promise<AuditEntry[]> {
  return deps.repos.auditLog.list(
    query.companyId,
    {
      limit: query.limit ?? 50,
      ...(query.beforeSeq !== undefined ? { beforeSeq: query.beforeSeq } : {}),
      ...(query.since ? { since: query.since } : {}),
    },
    retainAfter(deps),
  );
}

export const AUDIT_CSV_COLUMNS = ['at', 'companyId', 'actor', 'source', 'action', 'params', 'outcome', 'code', 'seq'];

/** The entries as CSV (RFC 4180), parameters as `name=value` pairs separated by `;`. */
export function auditToCsv(entries: readonly AuditEntry[]): string {
  const rows = entries.map((e) => [
    e.at.toISOString(),
    e.companyId,
    e.actor,
    e.source,
    e.action,
    Object.entries(e.params)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(';'),
    e.outcome,
    e.code ?? '',
    String(e.seq),
  ]);
  return [AUDIT_CSV_COLUMNS, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function csvField(value: string): string {
  // A spreadsheet would run a cell starting with = + - @ as a formula (an operator handle is free text).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The entries as JSON, as the CLI and the console's download give them. */
export const auditToJson = (entries: readonly AuditEntry[]): string =>
  JSON.stringify(
    entries.map((e) => ({ ...e, at: e.at.toISOString() })),
    null,
    2,
  );

/**
 * `--since`: a date (`2026-06-01`, midnight UTC), a date-time (`2026-06-01T08:00:00Z`), or how
 * long ago (`90m`, `24h`, `7d`).
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  const relative = /^(\d{1,6})([mhd])$/.exec(text.trim());
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  const date = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(text.trim()) ? new Date(text.trim()) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new OperationError(
      'usage',
      `--since "${text}" is neither a date (2026-06-01), a date-time (2026-06-01T08:00:00Z) nor a duration (24h, 7d).`,
    );
  }
  return date;
}

/**
 * The console's own log: logins, logouts, lock-outs and the CLI's `admin` commands. They belong to
 * no company, so it is kept under an id no company can have (not a slug), in the same store.
 */
export const CONSOLE_AUDIT_LOG = '_console';

export const CONSOLE_AUDIT_ACTIONS = [
  'login',
  'logout',
  'lockout',
  'admin-add',
  'admin-disable',
  'admin-enable',
] as const;
export type ConsoleAuditAction = (typeof CONSOLE_AUDIT_ACTIONS)[number];

const retainAfterAt = (now: Date) => new Date(now.getTime() - AUDIT_RETENTION_DAYS * 24 * 3600 * 1000);

/**
 * Appends one entry to the console's log. `who.actor` is an account's handle, or `?` for a login
 * to an account that does not exist (what was typed is not kept: it may be a mistyped password).
 * Never a password, and no client address (personal data).
 */
export function recordConsoleAudit(
  auditLog: AuditLogRepository,
  who: AuditActor,
  what: { action: ConsoleAuditAction; params?: AuditParams },
  result: { outcome: AuditOutcome; code: string | null },
  now: Date = new Date(),
): Promise<AuditEntry> {
  return auditLog.append(
    {
      at: now,
      companyId: CONSOLE_AUDIT_LOG,
      actor: who.actor,
      source: who.source,
      action: what.action,
      params: what.params ?? {},
      outcome: result.outcome,
      code: result.code,
    },
    retainAfterAt(now),
  );
}

/** The console's log, newest first. */
export function listConsoleAudit(
  auditLog: AuditLogRepository,
  query: { limit?: number; since?: Date },
  now: Date = new Date(),
): Promise<AuditEntry[]> {
  return auditLog.list(
    CONSOLE_AUDIT_LOG,
    { limit: query.limit ?? 50, ...(query.since ? { since: query.since } : {}) },
    retainAfterAt(now),
  );
}
