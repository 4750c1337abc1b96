import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audited, DEFAULT_EVERY, DEFAULT_TIMEZONE, onboardCompany, OperationError } from '../../operations';
import { readTenantOrganisation } from '../../operations/onboard';
import { scopeAuditParams } from '../../operations/scope';
import { consoleActor } from '../audit';
import { requestedBy, type ConsoleContext } from '../context';
import {
  checkLuccaConnection,
  CONSOLE_BUDGET_WAIT_MS,
  CONSOLE_TENANT_CLAIM,
  describeLuccaFailure,
  listCompanies,
} from '../data';
import { companiesPage, EVERY_CHOICES, newCompanyPage, type ConnectionFormState } from '../views/companies';
import { field, flash, sendCheck, wantsJson } from './forms';
import { scopeFromForm } from './scope';

/** The companies, and connecting a new one. */
export function registerCompanyPages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/companies', async (request, reply) => {
    const companies = await listCompanies(ctx.deps);
    return ctx.sendHtml(reply, companiesPage(ctx.view(request, reply), companies));
  });

  app.get('/companies/new', async (request, reply) =>
    ctx.sendHtml(reply, newCompanyPage(ctx.view(request, reply), { luccaUrl: '' })),
  );
  app.post('/companies/new/test', (request, reply) => testNewCompany(ctx, request, reply));
  app.post('/companies/new', (request, reply) => connectNewCompany(ctx, request, reply));
  app.post('/companies/new/organisation', (request, reply) => showTenantOrganisation(ctx, request, reply));
}

/** The new company form as posted, with the onboarding defaults where it says nothing. */
const newCompanyState = (body: unknown): ConnectionFormState => ({
  luccaUrl: field(body, 'luccaUrl'),
  companyId: field(body, 'companyId'),
  name: field(body, 'name'),
  timezone: field(body, 'timezone') || DEFAULT_TIMEZONE,
  every: (EVERY_CHOICES as readonly string[]).includes(field(body, 'every')) ? field(body, 'every') : DEFAULT_EVERY,
  scope: scopeFromForm(body),
});

/** The tenant's legal entities and departments for the new company's scope, read with the typed key; the form kept as typed. */
async function showTenantOrganisation(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const state = newCompanyState(request.body);
  try {
    const organisation = await readTenantOrganisation(
      ctx.deps,
      { luccaUrl: state.luccaUrl, apiKey: field(request.body, 'apiKey') },
      CONSOLE_BUDGET_WAIT_MS,
    );
    return await ctx.sendHtml(reply, newCompanyPage(ctx.view(request, reply), { ...state, organisation }));
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    const error = describeLuccaFailure(err);
    return ctx.sendHtml(
      reply,
      newCompanyPage(ctx.view(request, reply), { ...state, error: { ...error, baseUrl: null } }),
      422,
    );
  }
}

async function testNewCompany(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const check = await checkLuccaConnection(ctx.deps, {
    luccaUrl: field(request.body, 'luccaUrl'),
    apiKey: field(request.body, 'apiKey'),
  });
  if (wantsJson(request)) return sendCheck(ctx, request, reply, check);
  return ctx.sendHtml(reply, newCompanyPage(ctx.view(request, reply), { ...newCompanyState(request.body), check }));
}

async function connectNewCompany(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const state = newCompanyState(request.body);
  // Nothing ticked: the whole tenant, as `onboard` without --legal-entity or --department.
  const chosen = state.scope!;
  const scope = chosen.legalEntityIds.length + chosen.departmentIds.length > 0 ? chosen : undefined;
  try {
    const result = await audited(
      ctx.deps,
      consoleActor(request),
      {
        companyId: state.companyId ?? '',
        action: 'onboard',
        params: { every: state.every ?? null, timezone: state.timezone ?? null, ...scopeAuditParams(scope) },
        details: (r) => ({ luccaUrl: r.baseUrl }),
      },
      () =>
        onboardCompany(ctx.deps, {
          companyId: state.companyId ?? '',
          name: state.name ?? '',
          timezone: state.timezone,
          every: state.every,
          luccaUrl: state.luccaUrl,
          apiKey: field(request.body, 'apiKey'),
          requestedBy: requestedBy(request),
          // A new company never overwrites an existing one's connection.
          createOnly: true,
          // Checked for overlaps with the tenant's other companies, refused with their names and counts.
          ...(scope ? { scope } : {}),
          claim: CONSOLE_TENANT_CLAIM,
        }),
    );
    flash(request, 'flash.saved');
    request.session.pendingSync = result.companyId;
    return reply.redirect(`/companies/${result.companyId}/integration`, 303);
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    const error = describeLuccaFailure(err);
    return ctx.sendHtml(
      reply,
      newCompanyPage(ctx.view(request, reply), { ...state, error: { ...error, baseUrl: null } }),
      422,
    );
  }
}
