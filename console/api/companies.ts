import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  changeSchedule,
  DEFAULT_EVERY,
  DEFAULT_TIMEZONE,
  onboardCompany,
  OperationError,
  requestSync,
} from '../../operations';
import { requestedBy, type ConsoleContext } from '../context';
import { checkLuccaConnection, companyStatus, describeLuccaFailure, listCompanies, requireCompany } from '../data';
import { apiError, companyParams, companySchema, nullable, nullableDateTime } from '../schemas';
import { EVERY_CHOICES } from '../views/companies';
import { iso, toApiCheck, toApiCompany } from './representations';

export function registerCompanyRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  const { deps } = ctx;

  api.get(
    '/companies',
    {
      schema: {
        tags: ['companies'],
        summary: 'Companies with their Lucca connection, frequency, last and next run',
        response: { 200: { type: 'array', items: companySchema } },
      },
    },
    async () => (await listCompanies(deps)).map(toApiCompany),
  );

  api.get(
    '/companies/:companyId',
    {
      schema: {
        tags: ['companies'],
        summary: 'One company',
        params: companyParams,
        response: { 200: companySchema, 404: apiError },
      },
    },
    async (request) => toApiCompany(await companyStatus(deps, (request.params as { companyId: string }).companyId)),
  );
}

// --- Actions (session + CSRF header) ----------------------------------------------------------

/** The company actions: sync, schedule, test and save the Lucca connection. */
export function registerCompanyActionRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.post('/companies/:companyId/sync', { schema: syncSchema }, (request, reply) => sync(ctx, request, reply));
  api.post('/companies/:companyId/schedule', { schema: scheduleSchema }, (request, reply) =>
    schedule(ctx, request, reply),
  );
  api.post('/companies/:companyId/lucca/test', { schema: testConnectionSchema }, (request) =>
    testConnection(ctx, request),
  );
  api.put('/companies/:companyId/lucca', { schema: saveConnectionSchema }, (request, reply) =>
    saveConnection(ctx, request, reply),
  );
}

const actionSecurity = [{ session: [], csrf: [] }];
const operationFailed = (err: OperationError) => ({ error: err.code, message: err.message });

const syncSchema = {
  tags: ['actions'],
  summary: 'Sync now (or preview, or apply past the deactivation guard): signals the company workflow',
  security: actionSecurity,
  params: companyParams,
  body: {
    type: 'object',
    properties: {
      dryRun: { type: 'boolean', default: false },
      allowMassDeactivation: { type: 'boolean', default: false, description: 'apply past the mass-change guards' },
    },
    additionalProperties: false,
  },
  response: {
    202: { type: 'object', properties: { requested: { type: 'boolean' }, mode: { type: 'string' } } },
    404: apiError,
    409: apiError,
  },
};

async function sync(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const body = (request.body ?? {}) as { dryRun?: boolean; allowMassDeactivation?: boolean };
  await requireCompany(ctx.deps, companyId);
  try {
    const ticket = await requestSync(ctx.deps, {
      companyId,
      dryRun: body.dryRun ?? false,
      allowMassDeactivation: body.allowMassDeactivation ?? false,
      requestedBy: requestedBy(request),
    });
    return reply.code(202).send({ requested: true, mode: ticket.mode });
  } catch (err) {
    if (err instanceof OperationError) return reply.code(409).send(operationFailed(err));
    throw err;
  }
}

const scheduleSchema = {
  tags: ['actions'],
  summary: 'Change the frequency, or pause / resume the schedule',
  security: actionSecurity,
  params: companyParams,
  body: {
    type: 'object',
    properties: { every: { type: 'string', enum: [...EVERY_CHOICES] }, paused: { type: 'boolean' } },
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: { every: { type: 'string' }, paused: { type: 'boolean' }, nextRunAt: nullableDateTime },
    },
    400: apiError,
    404: apiError,
    409: apiError,
  },
};

async function schedule(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const body = (request.body ?? {}) as { every?: string; paused?: boolean };
  await requireCompany(ctx.deps, companyId);
  try {
    let result;
    if (body.every) result = await changeSchedule(ctx.deps, { companyId, change: { every: body.every } });
    if (body.paused !== undefined) {
      result = await changeSchedule(ctx.deps, {
        companyId,
        change: body.paused ? { pause: true } : { resume: true },
      });
    }
    if (!result) return reply.code(400).send({ error: 'bad-request', message: 'Give every and/or paused.' });
    return { every: result.every, paused: result.paused, nextRunAt: iso(result.nextRunAt) };
  } catch (err) {
    if (err instanceof OperationError) return reply.code(409).send(operationFailed(err));
    throw err;
  }
}

const connectionBody = {
  type: 'object',
  properties: {
    luccaUrl: { type: 'string', minLength: 1, maxLength: 500 },
    apiKey: { type: 'string', minLength: 1, maxLength: 500, writeOnly: true },
  },
  required: ['luccaUrl', 'apiKey'],
  additionalProperties: false,
};

const testConnectionSchema = {
  tags: ['actions'],
  summary: 'Test a Lucca URL and API key with one real call; nothing is stored',
  security: actionSecurity,
  params: companyParams,
  body: connectionBody,
  response: {
    200: {
      type: 'object',
      properties: {
        outcome: {
          type: 'string',
          enum: ['ok', 'bad-key', 'missing-permission', 'not-lucca', 'unreachable', 'other'],
        },
        message: { type: 'string' },
        detail: nullable({ type: 'string' }),
      },
    },
    404: apiError,
  },
};

async function testConnection(ctx: ConsoleContext, request: FastifyRequest) {
  const { companyId } = request.params as { companyId: string };
  await requireCompany(ctx.deps, companyId);
  const check = await checkLuccaConnection(ctx.deps, request.body as { luccaUrl: string; apiKey: string });
  return toApiCheck(ctx.i18nOf(request), check);
}

const saveConnectionSchema = {
  tags: ['actions'],
  summary: 'Save the Lucca URL and API key (checked first, stored encrypted) and request a first sync',
  security: actionSecurity,
  params: companyParams,
  body: {
    ...connectionBody,
    properties: {
      ...connectionBody.properties,
      name: { type: 'string', minLength: 1, maxLength: 200 },
      timezone: { type: 'string', minLength: 1, maxLength: 100 },
      every: { type: 'string', enum: [...EVERY_CHOICES] },
    },
  },
  response: {
    200: companySchema,
    422: {
      type: 'object',
      properties: { error: { type: 'string' }, outcome: { type: 'string' }, message: { type: 'string' } },
    },
  },
};

async function saveConnection(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { deps } = ctx;
  const { companyId } = request.params as { companyId: string };
  const body = request.body as { luccaUrl: string; apiKey: string; name?: string; timezone?: string; every?: string };
  const existing = await deps.repos.companies.get(companyId);
  try {
    await onboardCompany(deps, {
      companyId,
      name: body.name ?? existing?.name ?? '',
      timezone: body.timezone ?? existing?.timezone ?? DEFAULT_TIMEZONE,
      every: body.every ?? existing?.sync.every ?? DEFAULT_EVERY,
      luccaUrl: body.luccaUrl,
      apiKey: body.apiKey,
      requestedBy: requestedBy(request),
    });
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    const { outcome } = describeLuccaFailure(err);
    return reply.code(422).send({ error: err.code, outcome, message: err.message });
  }
  return toApiCompany(await companyStatus(deps, companyId));
}
