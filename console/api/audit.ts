import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AUDIT_ACTIONS, listAudit, OperationError } from '../../operations';
import { parseSince } from '../../operations/audit';
import type { ConsoleContext } from '../context';
import { requireCompany } from '../data';
import { apiError, companyParams } from '../schemas';

const auditEntrySchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string' },
    source: { type: 'string', enum: ['console', 'cli'] },
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    params: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
    outcome: { type: 'string', enum: ['ok', 'refused', 'error'] },
    code: { anyOf: [{ type: 'string' }, { type: 'null' }] },
  },
};

const auditSchema = {
  tags: ['audit'],
  summary: "The company's audit log, newest first: who did what, when, and the outcome",
  params: companyParams,
  querystring: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
      before: { type: 'integer', minimum: 1, description: 'only entries older than this seq (the next page)' },
      since: { type: 'string', maxLength: 40, description: 'a date, a date-time, or a duration ago (24h, 7d)' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: { type: 'array', items: auditEntrySchema },
        nextBefore: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
      },
    },
    400: apiError,
    404: apiError,
  },
};

export function registerAuditRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/companies/:companyId/audit', { schema: auditSchema }, (request, reply) => audit(ctx, request, reply));
}

async function audit(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const q = request.query as { limit: number; before?: number; since?: string };
  await requireCompany(ctx.deps, companyId);
  let since: Date | undefined;
  try {
    since = q.since ? parseSince(q.since) : undefined;
  } catch (err) {
    if (err instanceof OperationError) return reply.code(400).send({ error: 'bad-request', message: err.message });
    throw err;
  }
  const items = await listAudit(ctx.deps, {
    companyId,
    limit: q.limit,
    ...(q.before !== undefined ? { beforeSeq: q.before } : {}),
    ...(since ? { since } : {}),
  });
  const last = items.at(-1);
  return {
    items: items.map((e) => ({ ...e, at: e.at.toISOString() })),
    nextBefore: items.length === q.limit && last && last.seq > 1 ? last.seq : null,
  };
}
