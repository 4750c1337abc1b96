import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  audited,
  changeSchedule,
  listAudit,
  onboardCompany,
  OperationError,
  requestSync,
  scheduleAudit,
  ticketAuditDetails,
  type SyncTicket,
} from '../../operations';
import { consoleActor } from '../audit';
import { requestedBy, type ConsoleContext } from '../context';
import {
  checkLuccaConnection,
  companyStatus,
  CONSOLE_TENANT_CLAIM,
  describeLuccaFailure,
  listRuns,
  requireCompany,
} from '../data';
import type { MessageKey } from '../i18n';
import { companyParams } from '../schemas';
import { EVERY_CHOICES, type ConnectionFormState } from '../views/companies';
import { integrationPage } from '../views/integration';
import { field, flash, requestedFlash, sendCheck, wantsJson } from './forms';

/** How many of the latest audit entries the tab shows (the rest are a link away). */
const AUDIT_ON_TAB = 10;

/** A company's Lucca integration tab: the connection (test, save), the schedule, sync now. */
export function registerIntegrationPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const schema = { params: companyParams };

  app.get('/companies/:companyId', { schema }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    await requireCompany(ctx.deps, companyId);
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });
  app.get('/companies/:companyId/integration', { schema }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    return renderIntegration(ctx, request, reply, companyId);
  });
  app.post('/companies/:companyId/integration/test', { schema }, (request, reply) =>
    testConnection(ctx, request, reply),
  );
  app.post('/companies/:companyId/integration', { schema }, (request, reply) => saveConnection(ctx, request, reply));
  app.post('/companies/:companyId/sync', { schema }, (request, reply) => syncNow(ctx, request, reply));
  app.post('/companies/:companyId/schedule', { schema }, (request, reply) => changeFrequency(ctx, request, reply));
}

async function renderIntegration(
  ctx: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  companyId: string,
  form: Partial<ConnectionFormState> = {},
  status = 200,
) {
  const { deps } = ctx;
  const company = await requireCompany(deps, companyId);
  const [companyState, runs, audit] = await Promise.all([
    companyStatus(deps, companyId),
    listRuns(deps, companyId, 30),
    listAudit(deps, { companyId, limit: AUDIT_ON_TAB }),
  ]);
  const pending = request.session.pendingSync === companyId;
  if (pending) request.session.pendingSync = undefined;
  return ctx.sendHtml(
    reply,
    integrationPage(ctx.view(request, reply), {
      company,
      status: companyState,
      runs,
      audit,
      pending,
      form: { luccaUrl: company.lucca.baseUrl, ...form },
      temporalRunUrl: (run) => ctx.temporalRunUrl(run),
    }),
    status,
  );
}

/** An operation refused (bad key, Lucca unreachable…): the integration tab again, with the reason. */
function renderRefusal(
  ctx: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  companyId: string,
  err: OperationError,
  form: Partial<ConnectionFormState> = {},
) {
  return renderIntegration(
    ctx,
    request,
    reply,
    companyId,
    { ...form, error: { ...describeLuccaFailure(err), baseUrl: null } },
    422,
  );
}

async function testConnection(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  await requireCompany(ctx.deps, companyId);
  const luccaUrl = field(request.body, 'luccaUrl');
  const check = await checkLuccaConnection(ctx.deps, { luccaUrl, apiKey: field(request.body, 'apiKey') });
  if (wantsJson(request)) return sendCheck(ctx, request, reply, check);
  return renderIntegration(ctx, request, reply, companyId, { luccaUrl, check });
}

async function saveConnection(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const company = await requireCompany(ctx.deps, companyId);
  const luccaUrl = field(request.body, 'luccaUrl');
  try {
    await audited(
      ctx.deps,
      consoleActor(request),
      { companyId, action: 'change-connection', details: (r) => ({ luccaUrl: r.baseUrl }) },
      () =>
        onboardCompany(ctx.deps, {
          companyId,
          name: company.name,
          timezone: company.timezone,
          every: company.sync.every,
          luccaUrl,
          apiKey: field(request.body, 'apiKey'),
          requestedBy: requestedBy(request),
          claim: CONSOLE_TENANT_CLAIM,
        }),
    );
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    return renderRefusal(ctx, request, reply, companyId, err, { luccaUrl });
  }
  flash(request, 'flash.saved');
  request.session.pendingSync = companyId;
  return reply.redirect(`/companies/${companyId}/integration`, 303);
}

async function syncNow(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  await requireCompany(ctx.deps, companyId);
  const dryRun = field(request.body, 'dryRun') === 'true';
  const requestKey = field(request.body, 'requestKey');
  let ticket: SyncTicket;
  try {
    ticket = await audited(
      ctx.deps,
      consoleActor(request),
      { companyId, action: dryRun ? 'dry-run' : 'sync', params: { dryRun }, details: ticketAuditDetails },
      () =>
        requestSync(ctx.deps, {
          companyId,
          dryRun,
          requestedBy: requestedBy(request),
          // The form's own key: the same form sent twice (a double click, a resent page) is one request.
          ...(requestKey ? { requestKey } : {}),
        }),
    );
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    return renderRefusal(ctx, request, reply, companyId, err);
  }
  flash(request, requestedFlash(ticket, dryRun ? 'flash.previewRequested' : 'flash.syncRequested'));
  request.session.pendingSync = companyId;
  return reply.redirect(`/companies/${companyId}/integration`, 303);
}

async function changeFrequency(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  await requireCompany(ctx.deps, companyId);
  const every = field(request.body, 'every');
  const fullReadEvery = field(request.body, 'fullReadEvery');
  const paused = field(request.body, 'paused');
  let key: MessageKey;
  try {
    if ((EVERY_CHOICES as readonly string[]).includes(every)) {
      await audited(ctx.deps, consoleActor(request), { companyId, action: 'schedule-every', params: { every } }, () =>
        changeSchedule(ctx.deps, { companyId, change: { every } }),
      );
      key = 'flash.everySaved';
    } else if ((EVERY_CHOICES as readonly string[]).includes(fullReadEvery)) {
      const change = { fullReadEvery };
      await audited(ctx.deps, consoleActor(request), { companyId, ...scheduleAudit(change) }, () =>
        changeSchedule(ctx.deps, { companyId, change }),
      );
      key = 'flash.fullReadEverySaved';
    } else if (paused === 'true' || paused === 'false') {
      await audited(
        ctx.deps,
        consoleActor(request),
        { companyId, action: paused === 'true' ? 'pause' : 'resume' },
        () => changeSchedule(ctx.deps, { companyId, change: paused === 'true' ? { pause: true } : { resume: true } }),
      );
      key = paused === 'true' ? 'flash.paused' : 'flash.resumed';
    } else {
      return reply.code(400).send({ error: 'bad-request', message: 'every, fullReadEvery or paused is required' });
    }
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    return renderRefusal(ctx, request, reply, companyId, err);
  }
  flash(request, key);
  return reply.redirect(`/companies/${companyId}/integration`, 303);
}
