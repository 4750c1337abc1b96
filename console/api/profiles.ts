import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProfileStatus } from '../../domain/types';
import type { ConsoleContext } from '../context';
import { getProfile, listProfiles, PROFILE_STATUSES } from '../data';
import { apiError, changeSchema, companyParams, nullableDateTime, profileParams, profileSchema } from '../schemas';
import { iso, toApiChange, toApiProfile } from './representations';

/** A company's profiles: the filtered list, one profile with its history. */
export function registerProfileRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/companies/:companyId/profiles', { schema: profileListSchema }, (request, reply) =>
    profileList(ctx, request, reply),
  );
  api.get('/companies/:companyId/profiles/:profileId', { schema: oneProfileSchema }, (request) =>
    oneProfile(ctx, request),
  );
}

const unitSchema = {
  type: ['object', 'null'],
  properties: { id: { type: 'integer' }, name: { type: 'string' } },
};

const listItemSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    firstName: { type: ['string', 'null'] },
    lastName: { type: ['string', 'null'] },
    email: { type: ['string', 'null'] },
    status: { type: 'string', enum: [...PROFILE_STATUSES] },
    linked: { type: 'boolean' },
    contractStart: { type: ['string', 'null'] },
    contractEnd: { type: ['string', 'null'] },
    legalEntity: unitSchema,
    department: unitSchema,
  },
};

const profileListSchema = {
  tags: ['profiles'],
  summary:
    "A company's profiles in French order: searched by name or email (accents and case ignored), filtered by status, Lucca link, legal entity and department, paged. 202 while the company's profiles are being read.",
  params: companyParams,
  querystring: {
    type: 'object',
    properties: {
      q: { type: 'string', maxLength: 200 },
      status: { type: 'string', enum: [...PROFILE_STATUSES] },
      linked: { type: 'boolean' },
      legalEntity: { type: 'integer', minimum: 0 },
      department: { type: 'integer', minimum: 0 },
      refresh: { type: 'boolean' },
      skip: { type: 'integer', minimum: 0, default: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        asOf: { type: 'string', format: 'date-time' },
        total: { type: 'integer' },
        skip: { type: 'integer' },
        limit: { type: 'integer' },
        items: { type: 'array', items: listItemSchema },
      },
    },
    202: { type: 'object', properties: { building: { type: 'boolean' }, read: { type: 'integer' } } },
    404: apiError,
  },
};

interface ProfileListParams {
  q?: string;
  status?: ProfileStatus;
  linked?: boolean;
  legalEntity?: number;
  department?: number;
  refresh?: boolean;
  skip: number;
  limit: number;
}

async function profileList(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const q = request.query as ProfileListParams;
  const list = await listProfiles(ctx.deps, ctx.directory, companyId, {
    ...(q.q?.trim() ? { search: q.q } : {}),
    ...(q.status ? { status: q.status } : {}),
    ...(q.linked !== undefined ? { linked: q.linked } : {}),
    ...(q.legalEntity !== undefined ? { legalEntityId: q.legalEntity } : {}),
    ...(q.department !== undefined ? { departmentId: q.department } : {}),
    ...(q.refresh ? { refresh: true } : {}),
    skip: q.skip,
    limit: q.limit,
  });
  if (list.kind === 'building') return reply.code(202).send({ building: true, read: list.read });
  const items = list.items.map(({ searchText: _searchText, ...item }) => item);
  return { asOf: list.builtAt.toISOString(), total: list.total, skip: list.skip, limit: list.limit, items };
}

const oneProfileSchema = {
  tags: ['profiles'],
  summary: 'One profile and its change history across applied runs',
  params: profileParams,
  response: {
    200: {
      type: 'object',
      properties: {
        profile: profileSchema,
        lastSeenInLucca: nullableDateTime,
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
};

async function oneProfile(ctx: ConsoleContext, request: FastifyRequest) {
  const { companyId, profileId } = request.params as { companyId: string; profileId: string };
  const { profile, history, lastSeenInLucca } = await getProfile(ctx.deps, companyId, profileId);
  return {
    profile: toApiProfile(profile),
    lastSeenInLucca: iso(lastSeenInLucca),
    history: history.map((h) => ({
      runId: h.change.runId,
      runStartedAt: iso(h.run?.startedAt),
      change: toApiChange(h.change),
    })),
  };
}
