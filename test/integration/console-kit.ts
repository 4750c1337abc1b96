import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ConsoleSettings } from '../../console/config';
import { hashPassword } from '../../console/password';

/** Console settings for an in-process console (`app.inject`): no bootstrap admin unless given. */
export function consoleSettings(overrides: Partial<ConsoleSettings> = {}): ConsoleSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    bootstrapAdmin: null,
    sessionSecret: randomBytes(32).toString('base64'),
    sessionSecretGenerated: false,
    session: { idleMs: 30 * 60_000, absoluteMs: 8 * 3_600_000 },
    temporalUiUrl: 'http://127.0.0.1:8233',
    publicUrl: 'http://127.0.0.1',
    trustedProxies: [],
    ...overrides,
  };
}

/** Console settings whose bootstrap admin is `who`, its password hashed as the console stores it. */
export async function settingsWithAdmin(
  who: { user: string; password: string },
  overrides: Partial<ConsoleSettings> = {},
): Promise<ConsoleSettings> {
  return consoleSettings({
    bootstrapAdmin: { username: who.user, passwordHash: await hashPassword(who.password) },
    ...overrides,
  });
}

/** The cookies a response set (name=value each, as the next request sends them); a cleared one is left out. */
export function cookiesOf(res: LightMyRequestResponse): Map<string, string> {
  const jar = new Map<string, string>();
  for (const c of res.cookies as { name: string; value: string }[]) jar.set(c.name, c.value);
  return jar;
}

/** The Cookie header a browser sends after these responses, in order (later cookies replace earlier ones). */
export function cookieHeader(...responses: LightMyRequestResponse[]): string {
  const jar = new Map<string, string>();
  for (const res of responses) for (const [name, value] of cookiesOf(res)) jar.set(name, value);
  return [...jar]
    .filter(([, value]) => value !== '')
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
}

/** The login form's CSRF token and the cookies that go with it, as a browser gets them from GET /login. */
export async function loginForm(
  app: FastifyInstance,
  opts: { remoteAddress?: string; headers?: Record<string, string> } = {},
): Promise<{ csrf: string; page: LightMyRequestResponse }> {
  const page = await app.inject({ method: 'GET', url: '/login', ...opts });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  assert.ok(csrf, 'the login page carries a CSRF token');
  return { csrf, page };
}

/**
 * Logs in through the form as a browser would: GET the login page (CSRF token and its cookie),
 * POST it. Returns the Cookie header of the logged-in browser (session and CSRF cookies).
 */
export async function logIn(app: FastifyInstance, who: { user: string; password: string }): Promise<string> {
  const { csrf, page } = await loginForm(app);
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { cookie: cookieHeader(page) },
    payload: { _csrf: csrf, username: who.user, password: who.password, next: '/companies' },
  });
  assert.equal(res.statusCode, 303, `login of ${who.user}: ${res.statusCode}`);
  return cookieHeader(page, res);
}
