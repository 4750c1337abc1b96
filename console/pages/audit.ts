import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditToCsv, auditToJson, listAudit, OperationError } from '../../operations';
import { AUDIT_EXPORT_LIMIT, parseSince } from '../../operations/audit';
import type { ConsoleContext } from '../context';
import { requireCompany } from '../data';
import { companyParams } from '../schemas';
import { auditPage } from '../views/audit';

const PAGE_SIZE = 100;

/** A company's audit log: every entry, a page at a time, and its download as CSV or JSON. */
export function registerAuditPages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get(
    '/companies/:companyId/audit',
    {
      schema: {
        params: companyParams,
        querystring: { type: 'object', properties: { before: { type: 'integer', minimum: 1 } } },
      },
    },
    (request, reply) => auditList(ctx, request, reply),
  );
  app.get(
    '/companies/:companyId/audit/export',
    {
      schema: {
        params: companyParams,
        querystring: {
          type: 'object',
          properties: {
            format: { type: 'string', enum: ['csv', 'json'], default: 'csv' },
            since: { type: 'string', maxLength: 40 },
          },
        },
      },
    },
    (request, reply) => auditExport(ctx, request, reply),
  );
}

async function auditList(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const { before } = request.query as { before?: number };
  const company = await requireCompany(ctx.deps, companyId);
  const entries = await listAudit(ctx.deps, {
    companyId,
    limit: PAGE_SIZE,
    ...(before !== undefined ? { beforeSeq: before } : {}),
  });
  const last = entries.at(-1);
  const olderThan = entries.length === PAGE_SIZE && last && last.seq > 1 ? last.seq : null;
  return ctx.sendHtml(reply, auditPage(ctx.view(request, reply), { company, entries, olderThan }));
}

async function auditExport(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const { format, since } = request.query as { format: 'csv' | 'json'; since?: string };
  await requireCompany(ctx.deps, companyId);
  let sinceDate: Date | undefined;
  try {
    sinceDate = since ? parseSince(since) : undefined;
  } catch (err) {
    if (err instanceof OperationError) return reply.code(400).type('text/plain; charset=utf-8').send(err.message);
    throw err;
  }
  const entries = await listAudit(ctx.deps, {
    companyId,
    limit: AUDIT_EXPORT_LIMIT,
    ...(sinceDate ? { since: sinceDate } : {}),
  });
  const stamp = new Date().toISOString().slice(0, 10);
  return reply
    .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="audit-${companyId}-${stamp}.${format}"`)
    .header('cache-control', 'no-store')
    .send(format === 'csv' ? auditToCsv(entries) : auditToJson(entries));
}
