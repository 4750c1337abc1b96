import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { safeNext, type ConsoleContext } from '../context';
import { secondsUntil } from '../../domain/login-lockout';
import { recordConsoleAudit } from '../../operations/audit';
import { attemptLogin } from '../login';
import { loginPage } from '../views/layout';
import { field } from './forms';

/** Logging in and out, and `/` (the companies). */
export function registerAuthPages(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/', async (_request, reply) => reply.redirect('/companies', 303));

  app.get('/login', { config: { public: true } }, async (request, reply) => {
    const { next } = request.query as { next?: string };
    if (request.session.user) return reply.redirect(safeNext(next), 303);
    return ctx.sendHtml(reply, loginPage(ctx.view(request, reply), { next: safeNext(next), failed: false }));
  });

  app.post('/login', { config: { public: true } }, (request, reply) => logIn(ctx, request, reply));

  app.post('/logout', { config: { anyRole: true } }, async (request, reply) => {
    const user = request.session.user ?? '?';
    await ctx.endSession(request, reply);
    await recordConsoleAudit(
      ctx.deps.repos.auditLog,
      { actor: user, source: 'console' },
      { action: 'logout' },
      { outcome: 'ok', code: null },
      ctx.now(),
    );
    return reply.redirect('/login', 303);
  });
}

async function logIn(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const username = field(request.body, 'username');
  const next = safeNext(field(request.body, 'next'));
  const now = ctx.now();
  const result = await attemptLogin(
    ctx.store,
    { username, password: field(request.body, 'password'), address: request.ip, now },
    {
      gate: ctx.loginGate,
      auditLog: ctx.deps.repos.auditLog,
      ...(ctx.loginPolicies ? { policies: ctx.loginPolicies } : {}),
    },
  );
  if (result.outcome === 'busy') {
    request.log.warn('console login refused: too many logins being checked');
    reply.header('retry-after', '2');
    return ctx.sendHtml(
      reply,
      loginPage(ctx.view(request, reply), { next, failed: true, user: username, busy: true }),
      503,
    );
  }
  if (result.outcome === 'locked') {
    request.log.warn('console login refused: too many failures');
    const seconds = secondsUntil(result.retryAt, now);
    const t = ctx.i18nOf(request);
    const wait =
      seconds < 90
        ? t.t('login.waitSeconds', { n: seconds })
        : t.t('login.waitMinutes', { n: Math.ceil(seconds / 60) });
    reply.header('retry-after', String(seconds));
    return ctx.sendHtml(
      reply,
      loginPage(ctx.view(request, reply), { next, failed: true, user: username, lockedFor: wait }),
      429,
    );
  }
  if (result.outcome === 'refused') {
    request.log.warn('console login refused');
    return ctx.sendHtml(reply, loginPage(ctx.view(request, reply), { next, failed: true, user: username }), 401);
  }
  // A new session id at login: a session fixed before login is worth nothing after it.
  await request.session.regenerate();
  request.session.user = result.account._id;
  request.session.role = result.account.role;
  return reply.redirect(next, 303);
}
