import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProfileStatus } from '../../domain/types';
import type { ConsoleContext } from '../context';
import { getProfile, listProfiles, PROFILE_STATUSES } from '../data';
import { apiError, changeSchema, companyParams, nullableDateTime, profileParams, profileSchema } from '../schemas';
import { iso, toApiChange, toApiProfile } from './representations';

/** A company's profiles: the filtered list, one profile with its history. */
export function registerProfileRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/companies/:companyId/profiles', { schema: profileListSchema }, (request) => profileList(ctx, request));
  api.get('/companies/:companyId/profiles/:profileId', { schema: oneProfileSchema }, (request) =>
    oneProfile(ctx, request),
  );
}

const profileListSchema = {
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
};

async function profileList(ctx: ConsoleContext, request: FastifyRequest) {
  const { companyId } = request.params as { companyId: string };
  const q = request.query as { status?: ProfileStatus; linked?: boolean; skip: number; limit: number };
  const page = await listProfiles(ctx.deps, companyId, q);
  return { ...page, items: page.items.map(toApiProfile) };
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
  const { profile, history } = await getProfile(ctx.deps, companyId, profileId);
  return {
    profile: toApiProfile(profile),
    history: history.map((h) => ({
      runId: h.change.runId,
      runStartedAt: iso(h.run?.startedAt),
      change: toApiChange(h.change),
    })),
  };
}
