import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audited, OperationError } from '../../operations';
import {
  changeScope,
  currentScope,
  describeScope,
  previewScope,
  scopeAuditParams,
  type ScopePreview,
} from '../../operations/scope';
import { consoleActor } from '../audit';
import type { ConsoleContext } from '../context';
import { CONSOLE_TENANT_CLAIM, requireCompany } from '../data';
import { companyParams } from '../schemas';
import { scopePage } from '../views/scope';
import { field, flash } from './forms';

/** Ids from a hidden field (`3,1`); anything that is not an id is dropped (the operation checks again). */
const idsOf = (text: string): number[] =>
  text
    .split(',')
    .map((t) => Number(t.trim()))
    .filter((n) => Number.isSafeInteger(n) && n > 0);

/** The scope the editor's checkboxes (`le-<id>`, `dep-<id>`) or hidden fields say (also the new-company form's). */
export function scopeFromForm(body: unknown) {
  const entries = Object.keys((body as Record<string, unknown> | undefined) ?? {});
  const checked = (prefix: string) =>
    entries.filter((k) => k.startsWith(prefix)).flatMap((k) => idsOf(k.slice(prefix.length)));
  const legalEntityIds = [...idsOf(field(body, 'legalEntityIds')), ...checked('le-')];
  const departmentIds = [...idsOf(field(body, 'departmentIds')), ...checked('dep-')];
  return { legalEntityIds, departmentIds };
}

/** A company's scope editor: the tenant's units to choose from (one Lucca read), a dry run of the choice, then save. */
export function registerScopePages(app: FastifyInstance, ctx: ConsoleContext): void {
  const schema = { params: companyParams };
  app.get('/companies/:companyId/scope', { schema }, (request, reply) => render(ctx, request, reply, null, null));
  app.post('/companies/:companyId/scope/preview', { schema }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    try {
      const preview = await previewScope(ctx.deps, { companyId, scope: scopeFromForm(request.body) });
      return await render(ctx, request, reply, preview, null);
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return render(ctx, request, reply, null, err.message, 422);
    }
  });
  app.post('/companies/:companyId/scope', { schema }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    const scope = scopeFromForm(request.body);
    // What was previewed is what is saved: the preview's token, checked against the tenant now.
    const previewToken = field(request.body, 'previewToken');
    try {
      await audited(
        ctx.deps,
        consoleActor(request),
        {
          companyId,
          action: 'change-scope',
          params: { allowOverlap: false, ...scopeAuditParams(scope) },
          details: (r) => ({ changed: r.changed, previous: describeScope(r.previous) }),
        },
        () => {
          if (!previewToken) {
            throw new OperationError(
              'scope-preview-stale',
              'A scope is saved from its preview: preview it first, then save. Nothing was changed.',
            );
          }
          return changeScope(ctx.deps, { companyId, scope, previewToken, claim: CONSOLE_TENANT_CLAIM });
        },
      );
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return render(ctx, request, reply, null, err.message, 422);
    }
    flash(request, 'flash.scopeSaved');
    return reply.redirect(`/companies/${companyId}/scope`, 303);
  });
}

async function render(
  ctx: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  preview: ScopePreview | null,
  error: string | null,
  status = 200,
) {
  const { companyId } = request.params as { companyId: string };
  const company = await requireCompany(ctx.deps, companyId);
  return ctx.sendHtml(
    reply,
    scopePage(ctx.view(request, reply), { company, current: currentScope(company), preview, error }),
    status,
  );
}
