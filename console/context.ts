import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import type { OperationsDeps } from '../operations';
import type { ConsoleSettings } from './config';
import type { Html } from './html';
import type { I18n, MessageKey } from './i18n';
import type { ViewContext } from './views/layout';

declare module 'fastify' {
  interface Session {
    user?: string;
    flash?: { kind: 'ok' | 'error'; key: MessageKey };
    /** A sync was just requested from this session: the next integration page refreshes itself. */
    pendingSync?: string;
  }
  interface FastifyContextConfig {
    /** Reachable without logging in. */
    public?: boolean;
  }
}

/** What the routes share: the operations' dependencies and the helpers of a page. */
export interface ConsoleContext {
  deps: OperationsDeps;
  settings: ConsoleSettings;
  temporalRunUrl(run: Pick<SyncRunDocument, 'workflowId' | 'temporalRunId'>): string;
  view(request: FastifyRequest, reply: FastifyReply): ViewContext;
  i18nOf(request: FastifyRequest): I18n;
  sendHtml(reply: FastifyReply, page: Html, status?: number): FastifyReply;
  notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

/** Only a local path: `next` must never send the admin to another site after login. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) {
    return '/companies';
  }
  return next;
}

/** Who asked for an operation, as the run records it: the logged-in admin. */
export const requestedBy = (request: FastifyRequest): string => request.session.user ?? 'admin';
