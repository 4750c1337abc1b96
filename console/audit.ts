import type { FastifyRequest } from 'fastify';
import type { AuditActor } from '../operations';
import { requestedBy } from './context';

/** Who the audit log says acted: the logged-in account. */
export const consoleActor = (request: FastifyRequest): AuditActor => ({
  actor: requestedBy(request),
  source: 'console',
});
