import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifySession from '@fastify/session';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyBaseLogger } from 'fastify';
import type { Db } from 'mongodb';
import type { OperationsDeps } from '../operations';
import { openConsoleStore } from '../operations/console-access';
import { prepareAccounts } from './accounts';
import { registerApiRoutes } from './api';
import { isPublicHttps, type ConsoleSettings } from './config';
import { canAct, safeNext, type ConsoleContext } from './context';
import { LoginGate, type LoginPolicies } from './login';
import { NotFoundError } from './data';
import { DEFAULT_LANG, i18n, isLang, type I18n } from './i18n';
import { registerPageRoutes } from './pages';
import { ProfileDirectory, type ProfileDirectoryOptions } from './profile-directory';
import { RunChangeIndex } from './run-change-index';
import { errorPage, notFoundPage } from './views/layout';

export interface ConsoleOptions {
  deps: OperationsDeps;
  settings: ConsoleSettings;
  /** The database of the console's accounts, sessions and failed logins (the platform's). */
  db: Db;
  /** The process logger (pino); none by default (tests). */
  logger?: FastifyBaseLogger;
  /** The clock of sessions and logins (tests move it instead of waiting hours). */
  now?: () => Date;
  /** How many password checks run at once and wait (see LoginGate); the defaults otherwise. */
  loginGate?: LoginGate;
  loginPolicies?: LoginPolicies;
  /** How the profiles list and the run reports keep what they read (defaults otherwise; tests shorten them). */
  lists?: Partial<Pick<ProfileDirectoryOptions, 'maxAgeMs' | 'waitMs'>>;
}

const ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');
const SESSION_COOKIE = 'lucca_console_session';
/** The CSRF secret's cookie; `__Host-` over https, so no other host of the domain can plant one. */
const CSRF_COOKIE = 'lucca_console_csrf';
const LANG_COOKIE = 'lucca_console_lang';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Expired sessions and forgotten failed logins are swept this often (reads also check expiry). */
const SWEEP_INTERVAL_MS = 10 * 60_000;
const HSTS = 'max-age=31536000';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Run pages link to the Temporal UI: the console's URLs are not handed on to it.
  'referrer-policy': 'no-referrer',
};

/** A readiness check answers within this, or the console is not ready (Kubernetes waits a second by default). */
const READY_TIMEOUT_MS = 800;

const probe = (check: () => Promise<unknown>): Promise<'ok' | 'unavailable'> =>
  check().then(
    () => 'ok' as const,
    () => 'unavailable' as const,
  );

export const isApiRequest = (request: FastifyRequest) => request.url.startsWith('/api/');

/** Builds the console (not listening): pages, JSON API, OpenAPI description, login, CSRF. */
export async function buildConsole(opts: ConsoleOptions): Promise<FastifyInstance> {
  const { deps, settings } = opts;
  const now = opts.now ?? (() => new Date());
  const store = openConsoleStore(opts.db, settings.session, opts.now);
  // Admins reach the console over https (a TLS proxy in front): Secure cookies and HSTS, whatever it listens on.
  const secure = isPublicHttps(settings);
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // X-Forwarded-For / -Proto are believed only from the proxies listed: from anyone else they
    // are the client's own words (any address, to dodge or to aim the login throttling).
    trustProxy: settings.trustedProxies.length > 0 ? settings.trustedProxies : false,
    bodyLimit: 64 * 1024,
  });
  await prepareAccounts(store.accounts, settings.bootstrapAdmin, app.log);
  if (settings.sessionSecretGenerated) {
    app.log.warn(
      'CONSOLE_SESSION_SECRET is not set: sessions end when the console stops and are not shared by replicas',
    );
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'lucca-sync console API',
        version: '1.0.0',
        description:
          'The JSON API behind the admin console. Authenticate with the console login (session cookie); state-changing calls also need the CSRF token from GET /api/session, sent as the `csrf-token` header, and an account with the `operator` role (a `viewer` gets 403).',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          csrf: { type: 'apiKey', in: 'header', name: 'csrf-token' },
        },
      },
      security: [{ session: [] }],
    },
    hideUntagged: true,
  });
  await app.register(fastifyFormbody);
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: settings.sessionSecret,
    cookieName: SESSION_COOKIE,
    store: store.sessions,
    // Only a logged-in session is stored (the store refuses any other): an anonymous visit writes nothing.
    saveUninitialized: false,
    // Each request saves the session again, which moves its idle expiry (see the sessions repository).
    rolling: true,
    cookie: {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure,
      maxAge: settings.session.absoluteMs,
    },
  });
  // CSRF without server state: the secret is a cookie, and each token is an HMAC (key derived from
  // the session secret, shared by replicas) bound to the logged-in session's id, or to "anonymous"
  // on the login form. A token taken from one's own login page is worth nothing in a session.
  const csrfBinding = (request: FastifyRequest): string =>
    request.session?.user && !request.routeOptions.config.public ? `session:${request.session.sessionId}` : 'anonymous';
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: secure ? `__Host-${CSRF_COOKIE}` : CSRF_COOKIE,
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure },
    getUserInfo: csrfBinding,
    csrfOpts: { hmacKey: createHmac('sha256', settings.sessionSecret).update('console csrf').digest() },
  });

  const assets = {
    'console.css': { type: 'text/css; charset=utf-8', body: await readFile(path.join(ASSETS_DIR, 'console.css')) },
    'console.js': {
      type: 'text/javascript; charset=utf-8',
      body: await readFile(path.join(ASSETS_DIR, 'console.js')),
    },
  };

  const i18nOf = (request: FastifyRequest): I18n => {
    const lang = request.cookies[LANG_COOKIE];
    return i18n(isLang(lang) ? lang : DEFAULT_LANG);
  };

  const ctx: ConsoleContext = {
    deps,
    settings,
    store,
    now,
    loginGate: opts.loginGate ?? new LoginGate(),
    directory: new ProfileDirectory({
      readRows: (companyId) => deps.repos.profiles.listRows(companyId),
      now,
      ...opts.lists,
    }),
    reports: new RunChangeIndex({ readRows: (runId) => deps.repos.syncChanges.ofRun(runId) }),
    ...(opts.loginPolicies ? { loginPolicies: opts.loginPolicies } : {}),
    endSession: async (request, reply) => {
      await request.session.destroy();
      // The browser forgets it too (a deleted session's cookie is worthless, but need not linger).
      reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure });
    },
    i18nOf,
    temporalRunUrl(run) {
      const ns = encodeURIComponent(deps.config.temporal.namespace);
      return `${settings.temporalUiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(run.workflowId)}/${encodeURIComponent(run.temporalRunId)}/history`;
    },
    view(request, reply) {
      const flash = request.session.flash;
      if (flash) request.session.flash = undefined;
      const t = i18nOf(request);
      return {
        i18n: t,
        csrf: ctx.csrfToken(request, reply),
        user: request.session.user ?? null,
        role: request.session.role ?? null,
        canAct: canAct(request.session.role),
        currentUrl: request.url,
        flash: flash ? { kind: flash.kind, text: t.t(flash.key) } : null,
      };
    },
    sendHtml(reply, page, status = 200) {
      return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
    },
    csrfToken: (request, reply) => reply.generateCsrf({ userInfo: csrfBinding(request) }),
    notFound(request, reply) {
      if (isApiRequest(request)) return reply.code(404).send({ error: 'not-found', message: 'Not found' });
      return ctx.sendHtml(reply, notFoundPage(ctx.view(request, reply)), 404);
    },
  };

  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    // Pages and API answers carry personal data: no browser or proxy keeps a copy. Assets may be cached.
    if (!request.url.startsWith('/assets/')) reply.header('cache-control', 'no-store');
    if (secure) reply.header('strict-transport-security', HSTS);
    return payload;
  });

  const sweep = setInterval(() => {
    void Promise.all([store.sessions.removeExpired(), store.loginAttempts.removeForgotten(new Date())]).catch(
      (err: unknown) =>
        app.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'console sweep failed'),
    );
  }, SWEEP_INTERVAL_MS);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  // Authentication and the role first, then CSRF (after the body is parsed, so a form's _csrf field is seen).
  app.addHook('preValidation', async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const user = request.session.user;
    // The account is read on every request: a disabled account's sessions end at their next request.
    const account = user ? await store.accounts.get(user) : null;
    if (!account || account.disabled) {
      if (user) await ctx.endSession(request, reply);
      if (isApiRequest(request)) return reply.code(401).send({ error: 'unauthenticated', message: 'Log in first.' });
      const next = request.method === 'GET' ? request.url : '/companies';
      return reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
    }
    if (request.session.role !== account.role) request.session.role = account.role;
    if (SAFE_METHODS.has(request.method) || request.routeOptions.config.anyRole || canAct(account.role)) return;
    const forbidden = (t: I18n) => t.t('error.forbidden', { role: account.role });
    // The API speaks English, as its other errors do; a page speaks the admin's language.
    if (isApiRequest(request)) return reply.code(403).send({ error: 'forbidden', message: forbidden(i18n('en')) });
    return ctx.sendHtml(reply, errorPage(ctx.view(request, reply), forbidden(i18nOf(request))), 403);
  });
  app.addHook('preValidation', (request, reply, done) => {
    if (SAFE_METHODS.has(request.method)) return done();
    app.csrfProtection(request, reply, done);
  });

  app.setNotFoundHandler((request, reply) => ctx.notFound(request, reply));

  app.setErrorHandler(
    (
      error: Error & { code?: string; statusCode?: number; validationContext?: string; validation?: unknown },
      request,
      reply,
    ) => {
      if (error instanceof NotFoundError || (error.validation && error.validationContext === 'params')) {
        return ctx.notFound(request, reply);
      }
      if (error.code?.startsWith('FST_CSRF')) {
        if (isApiRequest(request))
          return reply.code(403).send({ error: 'csrf', message: 'Missing or invalid CSRF token.' });
        return ctx.sendHtml(reply, errorPage(ctx.view(request, reply), i18nOf(request).t('error.csrf')), 403);
      }
      if (error.validation) {
        const message = error.message;
        if (isApiRequest(request)) return reply.code(400).send({ error: 'bad-request', message });
        return ctx.sendHtml(reply, errorPage(ctx.view(request, reply), message), 400);
      }
      request.log.error(
        { err: { name: error.name, code: error.code, message: error.message } },
        'console request failed',
      );
      if (isApiRequest(request)) return reply.code(500).send({ error: 'internal', message: 'Internal error' });
      return ctx.sendHtml(reply, errorPage(ctx.view(request, reply), i18nOf(request).t('error.title')), 500);
    },
  );

  app.get(
    '/assets/:file',
    {
      config: { public: true },
      schema: {
        params: {
          type: 'object',
          properties: { file: { type: 'string', enum: Object.keys(assets) } },
          required: ['file'],
        },
      },
    },
    async (request, reply) => {
      const asset = assets[(request.params as { file: keyof typeof assets }).file];
      return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
    },
  );

  // Probes for an orchestrator: public, answered before any session is looked at, and never
  // saved one (no cookie). Live while the process serves; ready while MongoDB and Temporal answer.
  app.get('/healthz', { config: { public: true } }, async () => ({ live: true }));
  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    const [mongodb, temporal] = await Promise.all([
      probe(() => deps.repos.companies.ping(READY_TIMEOUT_MS)),
      probe(() =>
        deps.client.connection.withDeadline(Date.now() + READY_TIMEOUT_MS, () =>
          deps.client.workflowService.getSystemInfo({}),
        ),
      ),
    ]);
    const ready = mongodb === 'ok' && temporal === 'ok';
    return reply.code(ready ? 200 : 503).send({ ready, mongodb, temporal });
  });

  app.get('/lang/:lang', { config: { public: true } }, async (request, reply) => {
    const { lang } = request.params as { lang: string };
    const { next } = request.query as { next?: string };
    if (isLang(lang)) {
      reply.setCookie(LANG_COOKIE, lang, { path: '/', sameSite: 'lax', httpOnly: true, maxAge: 365 * 24 * 3600 });
    }
    return reply.redirect(safeNext(next), 303);
  });

  app.get('/api/openapi.json', { config: { public: true } }, async () => app.swagger());

  registerPageRoutes(app, ctx);
  await app.register(async (api) => registerApiRoutes(api, ctx), { prefix: '/api' });
  return app;
}

export interface RunningConsole {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Builds and starts the console; the demo and `npm run console` use this. */
export async function startConsole(opts: ConsoleOptions): Promise<RunningConsole> {
  const app = await buildConsole(opts);
  await app.listen({ host: opts.settings.host, port: opts.settings.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.settings.port;
  const host = opts.settings.host.includes(':') ? `[${opts.settings.host}]` : opts.settings.host;
  return { app, url: `http://${host}:${port}`, close: () => app.close() };
}
