import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProfileStatus } from '../../domain/types';
import {
  audited,
  OperationError,
  REQUEST_KEY_PATTERN,
  requestSync,
  ticketAuditDetails,
  type SyncTicket,
} from '../../operations';
import { runOfRequest } from '../../operations/sync';
import { consoleActor } from '../audit';
import { requestedBy, type ConsoleContext } from '../context';
import { getProfile, listProfiles, PROFILE_STATUSES, requireCompany, type ProfileListQuery } from '../data';
import { companyParams, profileParams } from '../schemas';
import { profilePage, profilesPage, type ResyncState } from '../views/profiles';
import { field, flash, requestedFlash } from './forms';

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
      const resync = profile.lucca ? await resyncState(ctx, companyId, profile.lucca.userId, request.query) : null;
      return ctx.sendHtml(
        reply,
        profilePage(ctx.view(request, reply), { company, profile, history, lastSeenInLucca, resync }),
      );
    },
  );

  app.post(
    '/companies/:companyId/profiles/:profileId/resync',
    { schema: { params: profileParams } },
    (request, reply) => resyncProfile(ctx, request, reply),
  );
}

/**
 * Re-syncs a linked profile's Lucca user: the one-user run of `sync --lucca-user`, through the same
 * operation and audited the same way. The profile page then follows the request by its key (in its
 * address, so a reload or a shared link shows the same request) to its run and the run's report.
 */
async function resyncProfile(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId, profileId } = request.params as { companyId: string; profileId: string };
  const { profile } = await getProfile(ctx.deps, companyId, profileId);
  const back = `/companies/${companyId}/profiles/${profileId}`;
  if (!profile.lucca) {
    flash(request, 'flash.resyncUnlinked', 'error');
    return reply.redirect(back, 303);
  }
  const luccaUserId = profile.lucca.userId;
  const requestKey = field(request.body, 'requestKey');
  let ticket: SyncTicket;
  try {
    ticket = await audited(
      ctx.deps,
      consoleActor(request),
      {
        companyId,
        action: 'sync',
        params: { dryRun: false, kind: 'one-user', luccaUserId },
        details: ticketAuditDetails,
      },
      () =>
        requestSync(ctx.deps, {
          companyId,
          luccaUserId,
          requestedBy: requestedBy(request),
          // The form's own key: the same form sent twice (a double click, a resent page) is one request.
          ...(requestKey ? { requestKey } : {}),
        }),
    );
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    flash(request, 'flash.resyncRefused', 'error');
    return reply.redirect(back, 303);
  }
  flash(request, requestedFlash(ticket, 'flash.resyncRequested'));
  const follow = new URLSearchParams({ resync: ticket.requestKey });
  if (ticket.requestId) follow.set('request', ticket.requestId);
  return reply.redirect(`${back}?${follow.toString()}`, 303);
}

/**
 * Where the re-sync named in the page's address stands: waiting for its run, or its run (running
 * or finished, with its report). Only a run of this company for this Lucca user is shown.
 */
async function resyncState(
  ctx: ConsoleContext,
  companyId: string,
  luccaUserId: number,
  rawQuery: unknown,
): Promise<ResyncState | null> {
  const q = (rawQuery ?? {}) as Record<string, unknown>;
  const requestKey = typeof q.resync === 'string' && REQUEST_KEY_PATTERN.test(q.resync) ? q.resync : null;
  if (!requestKey) return null;
  const given = typeof q.request === 'string' && REQUEST_KEY_PATTERN.test(q.request) ? q.request : null;
  const found = await runOfRequest(ctx.deps, { companyId, requestId: given, requestKey });
  const run = found.runId ? await ctx.deps.repos.syncRuns.get(found.runId) : null;
  if (run && run.companyId === companyId && run.luccaUserId === luccaUserId) {
    return { requestId: found.requestId, run };
  }
  return { requestId: found.requestId, run: null };
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
