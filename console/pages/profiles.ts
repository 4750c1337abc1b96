import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProfileStatus } from '../../domain/types';
import type { ConsoleContext } from '../context';
import { getProfile, listProfiles, PROFILE_STATUSES, requireCompany, type ProfileListQuery } from '../data';
import { companyParams, profileParams } from '../schemas';
import { profilePage, profilesPage } from '../views/profiles';

/** A company's profiles (searched, filtered, in French order, paged) and one profile with its history. */
export function registerProfilePages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/companies/:companyId/profiles', { schema: { params: companyParams } }, (request, reply) =>
    profileList(ctx, request, reply),
  );

  app.get(
    '/companies/:companyId/profiles/:profileId',
    { schema: { params: profileParams } },
    async (request, reply) => {
      const { companyId, profileId } = request.params as { companyId: string; profileId: string };
      const company = await requireCompany(ctx.deps, companyId);
      const { profile, history, lastSeenInLucca } = await getProfile(ctx.deps, companyId, profileId);
      return ctx.sendHtml(reply, profilePage(ctx.view(request, reply), { company, profile, history, lastSeenInLucca }));
    },
  );
}

async function profileList(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const query = profileQuery(request.query);
  const company = await requireCompany(ctx.deps, companyId);
  const list = await listProfiles(ctx.deps, ctx.directory, companyId, { ...query, limit: 50 });
  const { skip: _skip, refresh: _refresh, ...filter } = query;
  return ctx.sendHtml(reply, profilesPage(ctx.view(request, reply), { company, filter, list }));
}

const unitId = (text: string | undefined) => {
  const id = Number.parseInt(text ?? '', 10);
  return Number.isSafeInteger(id) && id >= 0 && String(id) === text ? id : undefined;
};

/** The list's search, filters and page as the query string gives them; anything else is ignored. */
export function profileQuery(raw: unknown): ProfileListQuery {
  const q = (raw ?? {}) as Record<string, string | undefined>;
  const status = PROFILE_STATUSES.includes(q.status as ProfileStatus) ? (q.status as ProfileStatus) : undefined;
  const linked = q.linked === 'yes' ? true : q.linked === 'no' ? false : undefined;
  const search = typeof q.q === 'string' ? q.q.trim().slice(0, 200) : '';
  const legalEntityId = unitId(q.legalEntity);
  const departmentId = unitId(q.department);
  const skip = Number.parseInt(q.skip ?? '0', 10);
  return {
    ...(search ? { search } : {}),
    ...(status ? { status } : {}),
    ...(linked !== undefined ? { linked } : {}),
    ...(legalEntityId !== undefined ? { legalEntityId } : {}),
    ...(departmentId !== undefined ? { departmentId } : {}),
    ...(Number.isSafeInteger(skip) && skip > 0 ? { skip } : {}),
    ...(q.refresh === '1' ? { refresh: true } : {}),
  };
}
