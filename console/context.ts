import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleRole } from '../domain/console-accounts';
import type { ConsoleStore } from '../db/console-store';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import type { OperationsDeps } from '../operations';
import type { ConsoleSettings } from './config';
import type { Html } from './html';
import type { I18n, MessageKey } from './i18n';
import type { LoginGate, LoginPolicies } from './login';
import type { ProfileDirectory } from './profile-directory';
import type { RunChangeIndex } from './run-change-index';
import type { ViewContext } from './views/layout';

declare module 'fastify' {
  interface Session {
    /** The logged-in account's user name (what runs and the audit log record as "who"). */
    user?: string;
    /** Its role, checked against the account on every request (a change or a disabling applies at once). */
    role?: ConsoleRole;
    flash?: { kind: 'ok' | 'error'; key: MessageKey };
    /** A sync was just requested from this session: the next integration page refreshes itself. */
    pendingSync?: string;
    /** When the session ends whatever its activity (ISO): set by the store at login, restored by each read. */
    absoluteExpiresAt?: string;
  }
  interface FastifyContextConfig {
    /** Reachable without logging in. */
    public?: boolean;
    /** A state-changing route any logged-in account may use (logging out); all others need `operator`. */
    anyRole?: boolean;
  }
}

/** What the routes share: the operations' dependencies and the helpers of a page. */
export interface ConsoleContext {
  deps: OperationsDeps;
  settings: ConsoleSettings;
  /** The console's accounts, sessions and failed logins. */
  store: ConsoleStore;
  /** The clock of sessions and logins. */
  now(): Date;
  loginGate: LoginGate;
  /** Companies' profiles as the list pages them, read once each for a while. */
  directory: ProfileDirectory;
  /** What finished runs changed, by action and reason, as the report pages them. */
  reports: RunChangeIndex;
  loginPolicies?: LoginPolicies;
  /** Deletes the session server-side and tells the browser to drop its cookie. */
  endSession(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** A CSRF token for a form or the API, bound to the logged-in session (or "anonymous" on the login form). */
  csrfToken(request: FastifyRequest, reply: FastifyReply): string;
  temporalRunUrl(run: Pick<SyncRunDocument, 'workflowId' | 'temporalRunId'>): string;
  view(request: FastifyRequest, reply: FastifyReply): ViewContext;
  i18nOf(request: FastifyRequest): I18n;
  sendHtml(reply: FastifyReply, page: Html, status?: number): FastifyReply;
  notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

const SAME_ORIGIN_BASE = 'http://console.invalid';

/**
 * Only a path of this console: `next` must never send the admin to another site after login.
 * Parsed as a browser would (tabs and newlines dropped, `\\` read as `/`), it must stay on the
 * same origin, and the path it gives back is the parsed one, not the text as sent.
 */
export function safeNext(next: unknown): string {
  const fallback = '/companies';
  if (typeof next !== 'string' || !next.startsWith('/') || next.length > 2000) return fallback;
  let url: URL;
  try {
    url = new URL(next, SAME_ORIGIN_BASE);
  } catch {
    return fallback;
  }
  if (url.origin !== SAME_ORIGIN_BASE) return fallback;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // `/%2F%2Fevil.com` parses as a path, but a later decode or a proxy may read it as `//evil.com`.
  if (/^\/(?:\/|\\|%2f|%5c)/i.test(path) || [...decodeSafely(path)].some((c) => c.charCodeAt(0) < 0x20))
    return fallback;
  return path;
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether the role may act (sync, override, change the key or the schedule, connect, offboard). */
export const canAct = (role: ConsoleRole | null | undefined): boolean => role === 'operator';

/** Who asked for an operation, as the run records it: the logged-in admin. */
export const requestedBy = (request: FastifyRequest): string => request.session.user ?? 'admin';
