import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  audited,
  changeSchedule,
  scheduleAudit,
  DEFAULT_EVERY,
  DEFAULT_TIMEZONE,
  onboardCompany,
  OperationError,
  REQUEST_KEY_PATTERN,
  requestSync,
  ticketAuditDetails,
} from '../../operations';
import { consoleActor } from '../audit';
import { requestedBy, type ConsoleContext } from '../context';
import {
  checkLuccaConnection,
  companyStatus,
  CONSOLE_TENANT_CLAIM,
  describeLuccaFailure,
  listCompanies,
  requireCompany,
} from '../data';
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
  summary: "Sync now (or preview, or apply the latest blocked run anyway): the company workflow's requestSync update",
  security: actionSecurity,
  params: companyParams,
  body: {
    type: 'object',
    properties: {
      dryRun: { type: 'boolean', default: false },
      allowMassDeactivation: {
        type: 'boolean',
        default: false,
        description:
          "apply the company's latest run, blocked by the mass-change guards, anyway: the changes of the people it planned, no others (refused when the latest run is not blocked)",
      },
      overrideRunId: { type: 'string', description: 'the blocked run reviewed: refused unless it is the latest run' },
      requestKey: {
        type: 'string',
        pattern: REQUEST_KEY_PATTERN.source,
        description:
          'your own id for this request (e.g. a UUID): sent again, the same key is the same request — one run, the same answer',
      },
    },
    additionalProperties: false,
  },
  response: {
    202: {
      type: 'object',
      properties: {
        requested: { type: 'boolean' },
        mode: { type: 'string' },
        requestId: nullable({
          type: 'string',
          description:
            "the id the run this request becomes carries (a run's requestId); null when the request is queued without an answer",
        }),
        requestKey: { type: 'string', description: 'the key the request went with (yours, or one made for it)' },
        taskQueue: { type: 'string' },
        queued: nullable({
          type: 'object',
          description: 'set when no worker answered in time: the request is recorded and runs once a worker takes it',
          properties: { reason: { type: 'string', enum: ['no-worker', 'no-answer'] }, message: { type: 'string' } },
        }),
        overrideOf: { type: 'string' },
      },
    },
    404: apiError,
    409: apiError,
  },
};

async function sync(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const body = (request.body ?? {}) as {
    dryRun?: boolean;
    allowMassDeactivation?: boolean;
    overrideRunId?: string;
    requestKey?: string;
  };
  await requireCompany(ctx.deps, companyId);
  try {
    const dryRun = body.dryRun ?? false;
    // The API's names for "apply anyway", decoded once: the run reviewed, or the latest blocked one.
    const applyAnyway = body.allowMassDeactivation
      ? body.overrideRunId
        ? { blockedRunId: body.overrideRunId }
        : {}
      : null;
    const ticket = await audited(
      ctx.deps,
      consoleActor(request),
      {
        companyId,
        action: applyAnyway ? 'apply-anyway' : dryRun ? 'dry-run' : 'sync',
        params: { dryRun, ...(applyAnyway?.blockedRunId ? { blockedRunId: applyAnyway.blockedRunId } : {}) },
        details: ticketAuditDetails,
      },
      () =>
        requestSync(ctx.deps, {
          companyId,
          dryRun,
          ...(applyAnyway ? { applyAnyway } : {}),
          ...(body.requestKey ? { requestKey: body.requestKey } : {}),
          requestedBy: requestedBy(request),
        }),
    );
    return reply.code(202).send({
      requested: true,
      mode: ticket.mode,
      requestId: ticket.requestId,
      requestKey: ticket.requestKey,
      taskQueue: ticket.taskQueue,
      queued: ticket.queued ?? null,
      ...(ticket.overrideOf ? { overrideOf: ticket.overrideOf } : {}),
    });
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
    properties: {
      every: { type: 'string', enum: [...EVERY_CHOICES] },
      fullReadEvery: {
        type: 'string',
        enum: [...EVERY_CHOICES],
        description:
          'how often a scheduled run reads everyone at least (default 24h): between full reads, scheduled runs read only the users Lucca modified',
      },
      paused: { type: 'boolean' },
    },
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        every: { type: 'string' },
        fullReadEvery: { type: 'string' },
        paused: { type: 'boolean' },
        nextRunAt: nullableDateTime,
      },
    },
    400: apiError,
    404: apiError,
    409: apiError,
  },
};

async function schedule(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const body = (request.body ?? {}) as { every?: string; fullReadEvery?: string; paused?: boolean };
  await requireCompany(ctx.deps, companyId);
  try {
    let result;
    const who = consoleActor(request);
    const every = body.every;
    if (every) {
      result = await audited(ctx.deps, who, { companyId, action: 'schedule-every', params: { every } }, () =>
        changeSchedule(ctx.deps, { companyId, change: { every } }),
      );
    }
    const fullReadEvery = body.fullReadEvery;
    if (fullReadEvery) {
      const change = { fullReadEvery };
      result = await audited(ctx.deps, who, { companyId, ...scheduleAudit(change) }, () =>
        changeSchedule(ctx.deps, { companyId, change }),
      );
    }
    if (body.paused !== undefined) {
      const paused = body.paused;
      result = await audited(ctx.deps, who, { companyId, action: paused ? 'pause' : 'resume' }, () =>
        changeSchedule(ctx.deps, { companyId, change: paused ? { pause: true } : { resume: true } }),
      );
    }
    if (!result) {
      return reply.code(400).send({ error: 'bad-request', message: 'Give every, fullReadEvery and/or paused.' });
    }
    return {
      every: result.every,
      fullReadEvery: result.fullReadEvery,
      paused: result.paused,
      nextRunAt: iso(result.nextRunAt),
    };
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
    const every = body.every ?? existing?.sync.every ?? DEFAULT_EVERY;
    const timezone = body.timezone ?? existing?.timezone ?? DEFAULT_TIMEZONE;
    await audited(
      deps,
      consoleActor(request),
      {
        companyId,
        action: existing ? 'change-connection' : 'onboard',
        params: { every, timezone },
        details: (r) => ({ luccaUrl: r.baseUrl }),
      },
      () =>
        onboardCompany(deps, {
          companyId,
          name: body.name ?? existing?.name ?? '',
          timezone,
          every,
          luccaUrl: body.luccaUrl,
          apiKey: body.apiKey,
          requestedBy: requestedBy(request),
          claim: CONSOLE_TENANT_CLAIM,
        }),
    );
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    const { outcome } = describeLuccaFailure(err);
    return reply.code(422).send({ error: err.code, outcome, message: err.message });
  }
  return toApiCompany(await companyStatus(deps, companyId));
}
