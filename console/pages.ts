import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { COMPANY_ID_PATTERN, type ProfileStatus } from '../domain/types';
import { changeSchedule, onboardCompany, OperationError, requestSync } from '../operations';
import {
  checkLuccaConnection,
  companyStatus,
  describeLuccaFailure,
  getProfile,
  getReport,
  getRun,
  listCompanies,
  listProfiles,
  listRuns,
  PROFILE_STATUSES,
  requireCompany,
  RUN_ID_PATTERN,
  type ConnectionCheck,
} from './data';
import type { MessageKey } from './i18n';
import { sameText, verifyPassword } from './password';
import { safeNext, type ConsoleContext } from './server';
import { companiesPage, EVERY_CHOICES, newCompanyPage, type ConnectionFormState } from './views/companies';
import { integrationPage } from './views/integration';
import { loginPage } from './views/layout';
import { profilePage, profilesPage } from './views/profiles';
import { runPage } from './views/run';

export const COMPANY_PARAM = { type: 'string', pattern: COMPANY_ID_PATTERN.source } as const;
export const RUN_PARAM = { type: 'string', pattern: RUN_ID_PATTERN.source } as const;
export const PROFILE_PARAM = { type: 'string', pattern: '^[0-9a-f]{24}$' } as const;

const params = (properties: Record<string, object>) => ({
  params: { type: 'object', properties, required: Object.keys(properties), additionalProperties: false },
});

type Body = Record<string, unknown>;
const field = (body: unknown, name: string): string => {
  const value = (body as Body | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

const wantsJson = (request: FastifyRequest) => (request.headers.accept ?? '').includes('application/json');

export function registerPageRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  const { deps, settings } = ctx;
  const flash = (request: FastifyRequest, key: MessageKey, kind: 'ok' | 'error' = 'ok') => {
    request.session.flash = { kind, key };
  };
  const user = (request: FastifyRequest) => request.session.user ?? 'admin';

  app.get('/', async (_request, reply) => reply.redirect('/companies', 303));

  app.get('/login', { config: { public: true } }, async (request, reply) => {
    const { next } = request.query as { next?: string };
    if (request.session.user) return reply.redirect(safeNext(next), 303);
    return ctx.sendHtml(reply, loginPage(ctx.view(request, reply), { next: safeNext(next), failed: false }));
  });

  app.post('/login', { config: { public: true } }, async (request, reply) => {
    const username = field(request.body, 'username');
    const password = field(request.body, 'password');
    const next = safeNext(field(request.body, 'next'));
    // The password is always checked, even for a wrong user name, so timing tells nothing.
    const passwordOk = await verifyPassword(password, settings.adminPasswordHash);
    if (!(sameText(username, settings.adminUser) && passwordOk)) {
      request.log.warn('console login refused');
      return ctx.sendHtml(reply, loginPage(ctx.view(request, reply), { next, failed: true, user: username }), 401);
    }
    // A new session id at login: a session fixed before login is worth nothing after it.
    await request.session.regenerate();
    request.session.user = settings.adminUser;
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (request, reply) => {
    await request.session.destroy();
    return reply.redirect('/login', 303);
  });

  app.get('/companies', async (request, reply) => {
    const companies = await listCompanies(deps);
    return ctx.sendHtml(reply, companiesPage(ctx.view(request, reply), companies));
  });

  // --- Connecting a new company -------------------------------------------------------------

  const newCompanyState = (body: unknown): ConnectionFormState => ({
    luccaUrl: field(body, 'luccaUrl'),
    companyId: field(body, 'companyId'),
    name: field(body, 'name'),
    timezone: field(body, 'timezone') || 'Europe/Paris',
    every: (EVERY_CHOICES as readonly string[]).includes(field(body, 'every')) ? field(body, 'every') : '24h',
  });

  app.get('/companies/new', async (request, reply) =>
    ctx.sendHtml(reply, newCompanyPage(ctx.view(request, reply), { luccaUrl: '' })),
  );

  app.post('/companies/new/test', async (request, reply) => {
    const check = await checkLuccaConnection(deps, {
      luccaUrl: field(request.body, 'luccaUrl'),
      apiKey: field(request.body, 'apiKey'),
    });
    if (wantsJson(request)) return sendCheck(ctx, request, reply, check);
    return ctx.sendHtml(reply, newCompanyPage(ctx.view(request, reply), { ...newCompanyState(request.body), check }));
  });

  app.post('/companies/new', async (request, reply) => {
    const state = newCompanyState(request.body);
    try {
      const result = await onboardCompany(deps, {
        companyId: state.companyId ?? '',
        name: state.name ?? '',
        timezone: state.timezone,
        every: state.every,
        luccaUrl: state.luccaUrl,
        apiKey: field(request.body, 'apiKey'),
        requestedBy: user(request),
      });
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
  });

  // --- A company's Lucca integration tab ----------------------------------------------------

  const companyParams = params({ companyId: COMPANY_PARAM });

  app.get('/companies/:companyId', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    await requireCompany(deps, companyId);
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });

  async function renderIntegration(
    request: FastifyRequest,
    reply: FastifyReply,
    companyId: string,
    form: Partial<ConnectionFormState> = {},
    status = 200,
  ) {
    const company = await requireCompany(deps, companyId);
    const [companyState, runs] = await Promise.all([companyStatus(deps, companyId), listRuns(deps, companyId, 30)]);
    const pending = request.session.pendingSync === companyId;
    if (pending) request.session.pendingSync = undefined;
    return ctx.sendHtml(
      reply,
      integrationPage(ctx.view(request, reply), {
        company,
        status: companyState,
        runs,
        pending,
        form: { luccaUrl: company.lucca.baseUrl, ...form },
        temporalRunUrl: (run) => ctx.temporalRunUrl(run),
      }),
      status,
    );
  }

  /** An operation refused (bad key, Lucca unreachable…): the integration tab again, with the reason. */
  function renderRefusal(
    request: FastifyRequest,
    reply: FastifyReply,
    companyId: string,
    err: OperationError,
    form: Partial<ConnectionFormState> = {},
  ) {
    return renderIntegration(
      request,
      reply,
      companyId,
      { ...form, error: { ...describeLuccaFailure(err), baseUrl: null } },
      422,
    );
  }

  app.get('/companies/:companyId/integration', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    return renderIntegration(request, reply, companyId);
  });

  app.post('/companies/:companyId/integration/test', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    await requireCompany(deps, companyId);
    const luccaUrl = field(request.body, 'luccaUrl');
    const check = await checkLuccaConnection(deps, { luccaUrl, apiKey: field(request.body, 'apiKey') });
    if (wantsJson(request)) return sendCheck(ctx, request, reply, check);
    return renderIntegration(request, reply, companyId, { luccaUrl, check });
  });

  app.post('/companies/:companyId/integration', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    const company = await requireCompany(deps, companyId);
    const luccaUrl = field(request.body, 'luccaUrl');
    try {
      await onboardCompany(deps, {
        companyId,
        name: company.name,
        timezone: company.timezone,
        every: company.sync.every,
        luccaUrl,
        apiKey: field(request.body, 'apiKey'),
        requestedBy: user(request),
      });
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return renderRefusal(request, reply, companyId, err, { luccaUrl });
    }
    flash(request, 'flash.saved');
    request.session.pendingSync = companyId;
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });

  app.post('/companies/:companyId/sync', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    await requireCompany(deps, companyId);
    const dryRun = field(request.body, 'dryRun') === 'true';
    try {
      await requestSync(deps, { companyId, dryRun, requestedBy: user(request) });
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return renderRefusal(request, reply, companyId, err);
    }
    flash(request, dryRun ? 'flash.previewRequested' : 'flash.syncRequested');
    request.session.pendingSync = companyId;
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });

  app.post('/companies/:companyId/schedule', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    await requireCompany(deps, companyId);
    const every = field(request.body, 'every');
    const paused = field(request.body, 'paused');
    let key: MessageKey;
    try {
      if ((EVERY_CHOICES as readonly string[]).includes(every)) {
        await changeSchedule(deps, { companyId, change: { every } });
        key = 'flash.everySaved';
      } else if (paused === 'true' || paused === 'false') {
        await changeSchedule(deps, { companyId, change: paused === 'true' ? { pause: true } : { resume: true } });
        key = paused === 'true' ? 'flash.paused' : 'flash.resumed';
      } else {
        return reply.code(400).send({ error: 'bad-request', message: 'every or paused is required' });
      }
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      return renderRefusal(request, reply, companyId, err);
    }
    flash(request, key);
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });

  // --- Runs ---------------------------------------------------------------------------------

  const runParams = params({ companyId: COMPANY_PARAM, runId: RUN_PARAM });

  app.get('/companies/:companyId/runs/:runId', { schema: runParams }, async (request, reply) => {
    const { companyId, runId } = request.params as { companyId: string; runId: string };
    const company = await requireCompany(deps, companyId);
    const { changesSoFar } = await getRun(deps, companyId, runId);
    const report = await getReport(deps, companyId, runId);
    return ctx.sendHtml(
      reply,
      runPage(ctx.view(request, reply), { company, report, changesSoFar, temporalUrl: ctx.temporalRunUrl(report.run) }),
    );
  });

  app.post('/companies/:companyId/runs/:runId/apply-anyway', { schema: runParams }, async (request, reply) => {
    const { companyId, runId } = request.params as { companyId: string; runId: string };
    const { run } = await getRun(deps, companyId, runId);
    if (run.status !== 'blocked') return reply.redirect(`/companies/${companyId}/runs/${runId}`, 303);
    await requestSync(deps, { companyId, allowMassDeactivation: true, requestedBy: user(request) });
    flash(request, 'flash.applyRequested');
    request.session.pendingSync = companyId;
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });

  // --- Profiles -----------------------------------------------------------------------------

  app.get('/companies/:companyId/profiles', { schema: companyParams }, async (request, reply) => {
    const { companyId } = request.params as { companyId: string };
    const q = request.query as Record<string, string | undefined>;
    const status = PROFILE_STATUSES.includes(q.status as ProfileStatus) ? (q.status as ProfileStatus) : undefined;
    const linked = q.linked === 'yes' ? true : q.linked === 'no' ? false : undefined;
    const skip = Number.parseInt(q.skip ?? '0', 10);
    const company = await requireCompany(deps, companyId);
    const page = await listProfiles(deps, companyId, {
      ...(status ? { status } : {}),
      ...(linked !== undefined ? { linked } : {}),
      skip: Number.isFinite(skip) ? skip : 0,
      limit: 50,
    });
    return ctx.sendHtml(
      reply,
      profilesPage(ctx.view(request, reply), {
        company,
        filter: { ...(status ? { status } : {}), ...(linked !== undefined ? { linked } : {}) },
        ...page,
      }),
    );
  });

  app.get(
    '/companies/:companyId/profiles/:profileId',
    { schema: params({ companyId: COMPANY_PARAM, profileId: PROFILE_PARAM }) },
    async (request, reply) => {
      const { companyId, profileId } = request.params as { companyId: string; profileId: string };
      const company = await requireCompany(deps, companyId);
      const { profile, history } = await getProfile(deps, companyId, profileId);
      return ctx.sendHtml(reply, profilePage(ctx.view(request, reply), { company, profile, history }));
    },
  );
}

function sendCheck(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply, check: ConnectionCheck) {
  const t = ctx.i18nOf(request);
  return reply.send({
    outcome: check.outcome,
    message: t.t(`test.${check.outcome}` as MessageKey),
    detail: check.outcome === 'ok' ? null : check.detail,
  });
}
