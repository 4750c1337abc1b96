import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SyncTicket } from '../../operations';
import { toApiCheck } from '../api/representations';
import type { ConsoleContext } from '../context';
import type { ConnectionCheck } from '../data';
import type { MessageKey } from '../i18n';

/** A form field as a string ('' when missing or not a string). */
export const field = (body: unknown, name: string): string => {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/** The page's script posts a form and asks for JSON (the connection test); a plain form gets HTML. */
export const wantsJson = (request: FastifyRequest) => (request.headers.accept ?? '').includes('application/json');

/** A message for the next page this session shows. */
export const flash = (request: FastifyRequest, key: MessageKey, kind: 'ok' | 'error' = 'ok') => {
  request.session.flash = { kind, key };
};

/** What to tell after a sync request: `asked` when the workflow took it, why it waits when not. */
export const requestedFlash = (ticket: SyncTicket, asked: MessageKey): MessageKey =>
  ticket.queued?.reason === 'no-worker'
    ? 'flash.syncQueuedNoWorker'
    : ticket.queued
      ? 'flash.syncQueuedNoAnswer'
      : asked;

/** The connection test's answer to the page's script: the JSON API's answer to the same test. */
export function sendCheck(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply, check: ConnectionCheck) {
  return reply.send(toApiCheck(ctx.i18nOf(request), check));
}
