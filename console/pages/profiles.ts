import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProfileStatus } from '../../domain/types';
import type { ConsoleContext } from '../context';
import { getProfile, listProfiles, PROFILE_STATUSES, requireCompany } from '../data';
import { companyParams, profileParams } from '../schemas';
import { profilePage, profilesPage } from '../views/profiles';

/** A company's profiles (filtered by status and link) and one profile with its history. */
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
      const { profile, history } = await getProfile(ctx.deps, companyId, profileId);
      return ctx.sendHtml(reply, profilePage(ctx.view(request, reply), { company, profile, history }));
    },
  );
}

async function profileList(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId } = request.params as { companyId: string };
  const q = request.query as Record<string, string | undefined>;
  const status = PROFILE_STATUSES.includes(q.status as ProfileStatus) ? (q.status as ProfileStatus) : undefined;
  const linked = q.linked === 'yes' ? true : q.linked === 'no' ? false : undefined;
  const skip = Number.parseInt(q.skip ?? '0', 10);
  const company = await requireCompany(ctx.deps, companyId);
  const page = await listProfiles(ctx.deps, companyId, {
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
}
