import type { FastifyInstance } from 'fastify';
import type { ProfileDocument } from '../db/profiles-repository';
import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import type { ChangeAction, ProfileStatus } from '../domain/types';
import {
  changeSchedule,
  onboardCompany,
  OperationError,
  REPORT_ACTIONS,
  requestSync,
  type CompanyStatus,
} from '../operations';
import {
  checkLuccaConnection,
  companyStatus,
  describeLuccaFailure,
  getProfile,
  getRun,
  listCompanies,
  listProfiles,
  listRuns,
  PROFILE_STATUSES,
  requireCompany,
} from './data';
import type { MessageKey } from './i18n';
import { COMPANY_PARAM, PROFILE_PARAM, RUN_PARAM } from './pages';
import type { ConsoleContext } from './server';
import { EVERY_CHOICES } from './views/companies';

/*
 * The JSON API behind the pages. Every response goes through its schema (fast-json-stringify),
 * so only the listed properties ever leave the server: no API key, ciphertext or internal field.
 * The OpenAPI description (/api/openapi.json) is generated from these schemas.
 */

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = nullable(dateTime);

const countsSchema = {
  type: 'object',
  properties: Object.fromEntries(
    ['seen', 'created', 'linked', 'updated', 'unchanged', 'deactivated', 'reactivated', 'skipped', 'conflicts'].map(
      (k) => [k, { type: 'integer' }],
    ),
  ),
};
const errorSchema = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } };

const runSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    trigger: { type: 'string', enum: ['schedule', 'manual', 'onboarding'] },
    mode: { type: 'string', enum: ['apply', 'dry-run'] },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'blocked'] },
    requestedBy: nullable({ type: 'string' }),
    startedAt: dateTime,
    finishedAt: nullableDateTime,
    counts: nullable(countsSchema),
    error: nullable(errorSchema),
  },
};

const runSchema = {
  type: 'object',
  properties: {
    ...runSummarySchema.properties,
    companyId: { type: 'string' },
    allowMassDeactivation: { type: 'boolean' },
    durationMs: nullable({ type: 'integer' }),
    progress: {
      type: 'object',
      properties: {
        pagesRead: { type: 'integer' },
        usersRead: { type: 'integer' },
        phase: { type: 'string', enum: ['reading', 'planning', 'applying', 'done'] },
      },
    },
    guard: nullable({
      type: 'object',
      properties: {
        deactivations: { type: 'integer' },
        limit: { type: 'integer' },
        activeProfiles: { type: 'integer' },
      },
    }),
    profileWrites: { type: 'integer' },
    workflowId: { type: 'string' },
    temporalRunId: { type: 'string' },
    temporalUrl: { type: 'string' },
  },
};

const companySchema = {
  type: 'object',
  properties: {
    companyId: { type: 'string' },
    name: { type: 'string' },
    timezone: { type: 'string' },
    luccaBaseUrl: { type: 'string' },
    apiKeyHint: nullable({
      type: 'string',
      description: 'The last 4 characters of the stored key; the key itself is never returned.',
    }),
    connected: { type: 'boolean' },
    every: { type: 'string' },
    paused: { type: 'boolean' },
    nextRunAt: nullableDateTime,
    workflowRunning: { type: 'boolean' },
    lastRun: nullable(runSummarySchema),
  },
};

const diffSchema = {
  type: 'object',
  additionalProperties: { type: 'object', properties: { from: {}, to: {} } },
};
const reasonSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, description: { type: 'string' } },
};
const changeSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    action: { type: 'string', enum: [...REPORT_ACTIONS] },
    luccaUserId: nullable({ type: 'integer' }),
    profileId: nullable({ type: 'string' }),
    fields: nullable(diffSchema),
    reasons: { type: 'array', items: reasonSchema },
  },
};

const syncedFieldsProps = {
  firstName: nullable({ type: 'string' }),
  lastName: nullable({ type: 'string' }),
  email: nullable({ type: 'string' }),
  birthDate: nullable({ type: 'string', format: 'date' }),
  contractStart: nullable({ type: 'string', format: 'date' }),
  contractEnd: nullable({ type: 'string', format: 'date' }),
};
const profileSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    ...syncedFieldsProps,
    status: { type: 'string', enum: [...PROFILE_STATUSES] },
    lucca: nullable({
      type: 'object',
      properties: {
        userId: { type: 'integer' },
        linkedAt: dateTime,
        lastSeenAt: dateTime,
        removedAt: nullableDateTime,
      },
    }),
    updatedAt: dateTime,
  },
};

const apiError = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } };
const companyParams = {
  type: 'object',
  properties: { companyId: COMPANY_PARAM },
  required: ['companyId'],
  additionalProperties: false,
};
const runParams = {
  type: 'object',
  properties: { companyId: COMPANY_PARAM, runId: RUN_PARAM },
  required: ['companyId', 'runId'],
  additionalProperties: false,
};

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function toRunSummary(r: SyncRunDocument) {
  return {
    id: r._id,
    trigger: r.trigger,
    mode: r.mode,
    status: r.status,
    requestedBy: r.requestedBy,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    counts: r.counts,
    error: r.error,
  };
}

function toApiRun(ctx: ConsoleContext, r: SyncRunDocument) {
  return {
    ...toRunSummary(r),
    companyId: r.companyId,
    allowMassDeactivation: r.allowMassDeactivation ?? false,
    durationMs: r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
    progress: r.progress,
    guard: r.guard,
    profileWrites: r.profileWrites,
    workflowId: r.workflowId,
    temporalRunId: r.temporalRunId,
    temporalUrl: ctx.temporalRunUrl(r),
  };
}

function toApiCompany(c: CompanyStatus) {
  return {
    companyId: c.companyId,
    name: c.name,
    timezone: c.timezone,
    luccaBaseUrl: c.luccaBaseUrl,
    apiKeyHint: c.apiKeyHint,
    connected: c.connected,
    every: c.every,
    paused: c.paused,
    nextRunAt: iso(c.schedule.nextRunAt),
    workflowRunning: c.workflowRunning,
    lastRun: c.lastRun ? toRunSummary({ ...c.lastRun, finishedAt: c.lastRun.finishedAt } as SyncRunDocument) : null,
  };
}

function toApiChange(c: SyncChangeDocument) {
  return {
    seq: c.seq,
    action: c.action,
    luccaUserId: c.luccaUserId,
    profileId: c.profileId,
    fields: c.fields,
    reasons: c.reasons,
  };
}

function toApiProfile(p: ProfileDocument) {
  return {
    id: p._id.toHexString(),
    firstName: p.firstName,
    lastName: p.lastName,
    email: p.email,
    birthDate: p.birthDate,
    contractStart: p.contractStart,
    contractEnd: p.contractEnd,
    status: p.status,
    lucca: p.lucca
      ? {
          userId: p.lucca.userId,
          linkedAt: iso(p.lucca.linkedAt),
          lastSeenAt: iso(p.lucca.lastSeenAt),
          removedAt: iso(p.lucca.removedAt),
        }
      : null,
    updatedAt: iso(p.updatedAt),
  };
}

const operationFailed = (err: OperationError) => ({ error: err.code, message: err.message });

export async function registerApiRoutes(api: FastifyInstance, ctx: ConsoleContext): Promise<void> {
  const { deps } = ctx;
  const requestedBy = (user: string | undefined) => user ?? 'admin';

  api.get(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'The logged-in admin and a CSRF token for state-changing calls',
        response: { 200: { type: 'object', properties: { user: { type: 'string' }, csrfToken: { type: 'string' } } } },
      },
    },
    async (request, reply) => ({ user: request.session.user, csrfToken: reply.generateCsrf() }),
  );

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

  api.get(
    '/companies/:companyId/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Run history, newest first',
        params: companyParams,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 30 } },
        },
        response: { 200: { type: 'array', items: runSchema }, 404: apiError },
      },
    },
    async (request) => {
      const { companyId } = request.params as { companyId: string };
      const { limit } = request.query as { limit: number };
      return (await listRuns(deps, companyId, limit)).map((r) => toApiRun(ctx, r));
    },
  );

  api.get(
    '/companies/:companyId/runs/:runId',
    {
      schema: {
        tags: ['runs'],
        summary: 'One run with its live progress (polled by the run page)',
        params: runParams,
        response: {
          200: {
            type: 'object',
            properties: { run: runSchema, changesSoFar: { type: 'integer' }, phaseLabel: { type: 'string' } },
          },
          404: apiError,
        },
      },
    },
    async (request) => {
      const { companyId, runId } = request.params as { companyId: string; runId: string };
      const { run, changesSoFar } = await getRun(deps, companyId, runId);
      const phaseLabel = ctx.i18nOf(request).t(`phase.${run.progress.phase}` as MessageKey);
      return { run: toApiRun(ctx, run), changesSoFar, phaseLabel };
    },
  );

  api.get(
    '/companies/:companyId/runs/:runId/changes',
    {
      schema: {
        tags: ['runs'],
        summary: "A run's changes in plan order, optionally of one action",
        params: runParams,
        querystring: {
          type: 'object',
          properties: {
            action: { type: 'string', enum: [...REPORT_ACTIONS] },
            skip: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { total: { type: 'integer' }, items: { type: 'array', items: changeSchema } },
          },
          404: apiError,
        },
      },
    },
    async (request) => {
      const { companyId, runId } = request.params as { companyId: string; runId: string };
      const q = request.query as { action?: ChangeAction; skip: number; limit: number };
      await getRun(deps, companyId, runId);
      const [total, items] = await Promise.all([
        deps.repos.syncChanges.count(runId, q.action ? { action: q.action } : {}),
        deps.repos.syncChanges.page(runId, { ...(q.action ? { action: q.action } : {}), skip: q.skip, limit: q.limit }),
      ]);
      return { total, items: items.map(toApiChange) };
    },
  );

  api.get(
    '/companies/:companyId/profiles',
    {
      schema: {
        tags: ['profiles'],
        summary: "A company's profiles, filtered by status and by whether they are linked to Lucca",
        params: companyParams,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...PROFILE_STATUSES] },
            linked: { type: 'boolean' },
            skip: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              skip: { type: 'integer' },
              limit: { type: 'integer' },
              items: { type: 'array', items: profileSchema },
            },
          },
          404: apiError,
        },
      },
    },
    async (request) => {
      const { companyId } = request.params as { companyId: string };
      const q = request.query as { status?: ProfileStatus; linked?: boolean; skip: number; limit: number };
      const page = await listProfiles(deps, companyId, q);
      return { ...page, items: page.items.map(toApiProfile) };
    },
  );

  api.get(
    '/companies/:companyId/profiles/:profileId',
    {
      schema: {
        tags: ['profiles'],
        summary: 'One profile and its change history across applied runs',
        params: {
          type: 'object',
          properties: { companyId: COMPANY_PARAM, profileId: PROFILE_PARAM },
          required: ['companyId', 'profileId'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              profile: profileSchema,
              history: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { runId: { type: 'string' }, runStartedAt: nullableDateTime, change: changeSchema },
                },
              },
            },
          },
          404: apiError,
        },
      },
    },
    async (request) => {
      const { companyId, profileId } = request.params as { companyId: string; profileId: string };
      const { profile, history } = await getProfile(deps, companyId, profileId);
      return {
        profile: toApiProfile(profile),
        history: history.map((h) => ({
          runId: h.change.runId,
          runStartedAt: iso(h.run?.startedAt),
          change: toApiChange(h.change),
        })),
      };
    },
  );

  // --- Actions (session + CSRF header) ------------------------------------------------------

  api.post(
    '/companies/:companyId/sync',
    {
      schema: {
        tags: ['actions'],
        summary: 'Sync now (or preview, or apply past the deactivation guard): signals the company workflow',
        security: [{ session: [], csrf: [] }],
        params: companyParams,
        body: {
          type: 'object',
          properties: {
            dryRun: { type: 'boolean', default: false },
            allowMassDeactivation: { type: 'boolean', default: false },
          },
          additionalProperties: false,
        },
        response: {
          202: { type: 'object', properties: { requested: { type: 'boolean' }, mode: { type: 'string' } } },
          404: apiError,
          409: apiError,
        },
      },
    },
    async (request, reply) => {
      const { companyId } = request.params as { companyId: string };
      const body = (request.body ?? {}) as { dryRun?: boolean; allowMassDeactivation?: boolean };
      await requireCompany(deps, companyId);
      try {
        const ticket = await requestSync(deps, {
          companyId,
          dryRun: body.dryRun ?? false,
          allowMassDeactivation: body.allowMassDeactivation ?? false,
          requestedBy: requestedBy(request.session.user),
        });
        return reply.code(202).send({ requested: true, mode: ticket.mode });
      } catch (err) {
        if (err instanceof OperationError) return reply.code(409).send(operationFailed(err));
        throw err;
      }
    },
  );

  api.post(
    '/companies/:companyId/schedule',
    {
      schema: {
        tags: ['actions'],
        summary: 'Change the frequency, or pause / resume the schedule',
        security: [{ session: [], csrf: [] }],
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
      },
    },
    async (request, reply) => {
      const { companyId } = request.params as { companyId: string };
      const body = (request.body ?? {}) as { every?: string; paused?: boolean };
      await requireCompany(deps, companyId);
      try {
        let result;
        if (body.every) result = await changeSchedule(deps, { companyId, change: { every: body.every } });
        if (body.paused !== undefined) {
          result = await changeSchedule(deps, {
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
    },
  );

  const connectionBody = {
    type: 'object',
    properties: {
      luccaUrl: { type: 'string', minLength: 1, maxLength: 500 },
      apiKey: { type: 'string', minLength: 1, maxLength: 500, writeOnly: true },
    },
    required: ['luccaUrl', 'apiKey'],
    additionalProperties: false,
  };

  api.post(
    '/companies/:companyId/lucca/test',
    {
      schema: {
        tags: ['actions'],
        summary: 'Test a Lucca URL and API key with one real call; nothing is stored',
        security: [{ session: [], csrf: [] }],
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
      },
    },
    async (request) => {
      const { companyId } = request.params as { companyId: string };
      await requireCompany(deps, companyId);
      const check = await checkLuccaConnection(deps, request.body as { luccaUrl: string; apiKey: string });
      return {
        outcome: check.outcome,
        message: ctx.i18nOf(request).t(`test.${check.outcome}` as MessageKey),
        detail: check.outcome === 'ok' ? null : check.detail,
      };
    },
  );

  api.put(
    '/companies/:companyId/lucca',
    {
      schema: {
        tags: ['actions'],
        summary: 'Save the Lucca URL and API key (checked first, stored encrypted) and request a first sync',
        security: [{ session: [], csrf: [] }],
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
      },
    },
    async (request, reply) => {
      const { companyId } = request.params as { companyId: string };
      const body = request.body as {
        luccaUrl: string;
        apiKey: string;
        name?: string;
        timezone?: string;
        every?: string;
      };
      const existing = await deps.repos.companies.get(companyId);
      try {
        await onboardCompany(deps, {
          companyId,
          name: body.name ?? existing?.name ?? '',
          timezone: body.timezone ?? existing?.timezone ?? 'Europe/Paris',
          every: body.every ?? existing?.sync.every ?? '24h',
          luccaUrl: body.luccaUrl,
          apiKey: body.apiKey,
          requestedBy: requestedBy(request.session.user),
        });
      } catch (err) {
        if (!(err instanceof OperationError)) throw err;
        const { outcome } = describeLuccaFailure(err);
        return reply.code(422).send({ error: err.code, outcome, message: err.message });
      }
      return toApiCompany(await companyStatus(deps, companyId));
    },
  );
}
