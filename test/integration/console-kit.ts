import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ConsoleSettings } from '../../console/config';

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
    secureCookie: false,
    ...overrides,
  };
}

/** The session cookie a response set, as the next request sends it. */
export const cookieOf = (res: LightMyRequestResponse) =>
  String(res.headers['set-cookie'] ?? '')
    .split(';')[0]
    ?.trim() ?? '';

/** Logs in through the form as a browser would: GET the login page (CSRF token), POST it. */
export async function logIn(app: FastifyInstance, who: { user: string; password: string }): Promise<string> {
  const page = await app.inject({ method: 'GET', url: '/login' });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { cookie: cookieOf(page) },
    payload: { _csrf: csrf, username: who.user, password: who.password, next: '/companies' },
  });
  assert.equal(res.statusCode, 303, `login of ${who.user}: ${res.statusCode}`);
  return cookieOf(res);
}
