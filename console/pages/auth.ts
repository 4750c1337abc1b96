import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { safeNext, type ConsoleContext } from '../context';
import { sameText, verifyPassword } from '../password';
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

  app.post('/logout', async (request, reply) => {
    await request.session.destroy();
    return reply.redirect('/login', 303);
  });
}

async function logIn(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { settings } = ctx;
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
}
