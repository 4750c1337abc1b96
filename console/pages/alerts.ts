import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audited, OperationError } from '../../operations';
import {
  addEmailTarget,
  addWebhookTarget,
  listAlertTargets,
  removeAlertTarget,
  sendTestAlert,
} from '../../operations/alerts';
import { consoleActor } from '../audit';
import type { ConsoleContext } from '../context';
import { requireCompany } from '../data';
import { companyParams } from '../schemas';
import { alertsPage } from '../views/alerts';
import { field, flash } from './forms';

/** A company's alert targets: add or remove a webhook or an email address, send a test message. */
export function registerAlertPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const schema = { params: companyParams };
  const companyOf = (request: FastifyRequest) => (request.params as { companyId: string }).companyId;
  /** Runs an audited change; a refusal shows the page again with its reason. */
  const change = async (
    request: FastifyRequest,
    reply: FastifyReply,
    run: (companyId: string) => Promise<{ id: string; secret: string } | null>,
  ) => {
    const companyId = companyOf(request);
    try {
      const added = await run(companyId);
      if (added) return await render(ctx, request, reply, added, null);
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return render(ctx, request, reply, null, err.message, 422);
    }
    return reply.redirect(`/companies/${companyId}/alerts`, 303);
  };

  app.get('/companies/:companyId/alerts', { schema }, (request, reply) => render(ctx, request, reply, null, null));
  app.post('/companies/:companyId/alerts/webhooks', { schema }, (request, reply) =>
    change(request, reply, (companyId) =>
      audited(
        ctx.deps,
        consoleActor(request),
        { companyId, action: 'add-alert-target', params: { kind: 'webhook' }, details: (r) => ({ targetId: r.id }) },
        () => addWebhookTarget(ctx.deps, { companyId, url: field(request.body, 'url') }),
      ),
    ),
  );
  app.post('/companies/:companyId/alerts/emails', { schema }, (request, reply) =>
    change(request, reply, async (companyId) => {
      await audited(
        ctx.deps,
        consoleActor(request),
        { companyId, action: 'add-alert-target', params: { kind: 'email' }, details: (r) => ({ targetId: r.id }) },
        () => addEmailTarget(ctx.deps, { companyId, address: field(request.body, 'address') }),
      );
      flash(request, 'flash.alertTargetAdded');
      return null;
    }),
  );
  app.post('/companies/:companyId/alerts/remove', { schema }, (request, reply) =>
    change(request, reply, async (companyId) => {
      const targetId = field(request.body, 'targetId').slice(0, 40);
      await audited(
        ctx.deps,
        consoleActor(request),
        { companyId, action: 'remove-alert-target', params: { targetId } },
        () => removeAlertTarget(ctx.deps, { companyId, targetId }),
      );
      flash(request, 'flash.alertTargetRemoved');
      return null;
    }),
  );
  app.post('/companies/:companyId/alerts/test', { schema }, (request, reply) =>
    change(request, reply, async (companyId) => {
      await audited(
        ctx.deps,
        consoleActor(request),
        { companyId, action: 'test-alert', details: (r) => ({ alertId: r.alertId }) },
        () => sendTestAlert(ctx.deps, { companyId }),
      );
      flash(request, 'flash.alertTestSent');
      return null;
    }),
  );
}

async function render(
  ctx: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  newSecret: { id: string; secret: string } | null,
  error: string | null,
  status = 200,
) {
  const { companyId } = request.params as { companyId: string };
  const company = await requireCompany(ctx.deps, companyId);
  const targets = await listAlertTargets(ctx.deps, { companyId });
  return ctx.sendHtml(reply, alertsPage(ctx.view(request, reply), { company, targets, newSecret, error }), status);
}
