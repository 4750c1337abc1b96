import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audited, OperationError } from '../../operations';
import {
  addExtraField,
  currentExtraFields,
  extraFieldSpec,
  listLuccaFields,
  previewExtraField,
  removeExtraField,
  type ExtraFieldPreview,
  type ExtraFieldsChange,
  type LuccaFieldsList,
} from '../../operations/fields';
import { describeExtraFields } from '../../operations/terminal-format';
import { consoleActor } from '../audit';
import type { ConsoleContext } from '../context';
import { requireCompany } from '../data';
import { companyParams } from '../schemas';
import { fieldsPage } from '../views/fields';
import { field, flash } from './forms';

/** The field the form names: an empty key or type is the operation's default, as when the CLI omits them. */
function fieldFromForm(body: unknown) {
  const key = field(body, 'key').trim();
  const type = field(body, 'type');
  return { lucca: field(body, 'lucca').trim(), ...(key ? { key } : {}), ...(type ? { type } : {}) };
}

/**
 * A company's extra Lucca fields, through the same operations as the CLI's `fields` command: the
 * fields its key sees (one Lucca read), a dry run of adding one (its values shown, never logged),
 * then save; remove keeping or clearing values. Saving and removing are audited connection changes.
 */
export function registerFieldPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const schema = { params: companyParams };
  const companyOf = (request: FastifyRequest) => (request.params as { companyId: string }).companyId;
  /** Runs an operation; a refusal shows the page again with the operation's own message. */
  const attempt = async <T>(
    request: FastifyRequest,
    reply: FastifyReply,
    run: (companyId: string) => Promise<T>,
    done: (result: T) => unknown,
  ) => {
    try {
      return await done(await run(companyOf(request)));
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return render(ctx, request, reply, { error: err.message }, 422);
    }
  };

  app.get('/companies/:companyId/fields', { schema }, (request, reply) => render(ctx, request, reply, {}));
  app.post('/companies/:companyId/fields/list', { schema }, (request, reply) =>
    attempt(
      request,
      reply,
      (companyId) => listLuccaFields(ctx.deps, { companyId }),
      (list) => render(ctx, request, reply, { list }),
    ),
  );
  app.post('/companies/:companyId/fields/preview', { schema }, (request, reply) =>
    attempt(
      request,
      reply,
      (companyId) => previewExtraField(ctx.deps, { companyId, field: extraFieldSpec(fieldFromForm(request.body)) }),
      (preview) => render(ctx, request, reply, { preview }),
    ),
  );
  /** Saving or removing: an audited connection change, then the page again with what it saved. */
  const change = (
    request: FastifyRequest,
    reply: FastifyReply,
    params: Parameters<typeof audited>[2]['params'],
    run: (companyId: string) => Promise<ExtraFieldsChange>,
  ) =>
    attempt(
      request,
      reply,
      (companyId) =>
        audited(
          ctx.deps,
          consoleActor(request),
          {
            companyId,
            action: 'change-fields',
            params,
            details: (r) => ({ changed: r.changed, fields: describeExtraFields(r.config) }),
          },
          () => run(companyId),
        ),
      (r) => {
        flash(request, 'flash.fieldsSaved');
        return reply.redirect(`/companies/${r.companyId}/fields`, 303);
      },
    );
  app.post('/companies/:companyId/fields', { schema }, (request, reply) => {
    const asked = fieldFromForm(request.body);
    return change(request, reply, { add: asked.lucca, key: asked.key ?? null, type: asked.type ?? null }, (companyId) =>
      addExtraField(ctx.deps, { companyId, field: extraFieldSpec(asked) }),
    );
  });
  app.post('/companies/:companyId/fields/remove', { schema }, (request, reply) => {
    const removed = field(request.body, 'field');
    const values = field(request.body, 'values') === 'clear' ? 'clear' : 'keep';
    return change(request, reply, { remove: removed, values }, (companyId) =>
      removeExtraField(ctx.deps, { companyId, field: removed, values }),
    );
  });
}

async function render(
  ctx: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  shown: { list?: LuccaFieldsList; preview?: ExtraFieldPreview; error?: string },
  status = 200,
) {
  const company = await requireCompany(ctx.deps, (request.params as { companyId: string }).companyId);
  return ctx.sendHtml(
    reply,
    fieldsPage(ctx.view(request, reply), {
      company,
      current: currentExtraFields(company),
      list: shown.list ?? null,
      preview: shown.preview ?? null,
      error: shown.error ?? null,
    }),
    status,
  );
}
