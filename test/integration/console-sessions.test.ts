import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../config/env';
import { buildConsole } from '../../console/server';
import { ConsoleSessionsRepository } from '../../db/console-sessions-repository';
import type { OperationsDeps } from '../../operations';
import { cookieHeader, logIn, loginForm, settingsWithAdmin } from './console-kit';
import { MONGODB_URI, openStack, TEMPORAL_ADDRESS, type Stack } from './helpers';

const OPERATOR = { user: 'olga', password: `operator-${randomBytes(6).toString('hex')}` };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const IDLE_MS = 30 * MINUTE;
const ABSOLUTE_MS = 8 * HOUR;
/** Requests held in flight at once around a logout or the absolute limit. */
const IN_FLIGHT = 10;

/** A gate the test opens: requests that reach the held route wait on it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Waits, at most `ms`, for `check` to hold, polling every 10 ms; fails saying what it waited for. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

const sessionCookieCleared = (res: LightMyRequestResponse) =>
  (res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]).some(
    (c) =>
      c.name === 'lucca_console_session' &&
      c.value === '' &&
      (c.maxAge === 0 || (c.expires !== undefined && c.expires.getTime() <= Date.now())),
  );

describe('console sessions end for good: logout, the absolute limit, anonymous visits (real store)', () => {
  let stack: Stack;
  let deps: OperationsDeps;
  let app: FastifyInstance;
  let clock = new Date('2026-12-02T08:00:00Z');
  /** Requests to the held route wait here until the test opens the gate. */
  let hold = gate();
  let held = 0;

  const sessions = () => stack.db.collection(ConsoleSessionsRepository.collectionName);
  const get = (url: string, cookie: string) => app.inject({ method: 'GET', url, headers: { cookie } });

  before(async () => {
    stack = await openStack('console-sessions');
    deps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB: stack.db.databaseName }),
    };
    app = await buildConsole({
      deps,
      db: stack.db,
      now: () => clock,
      settings: await settingsWithAdmin(OPERATOR, {
        session: { idleMs: IDLE_MS, absoluteMs: ABSOLUTE_MS },
      }),
    });
    // A request that is in flight for as long as the test wants: through the same login check and
    // session handling as every API route, answered only once the gate opens.
    app.get('/api/held', async (request) => {
      held += 1;
      await hold.opened;
      return { user: request.session.user };
    });
  });

  after(async () => {
    await app?.close();
    await stack?.close();
  });

  beforeEach(() => {
    hold = gate();
    held = 0;
  });
  // A test that failed half-way must not leave requests held: closing the console waits for them.
  afterEach(() => hold.open());

  /** Starts `IN_FLIGHT` requests that wait in the held route; returns (their answers to come) once all are inside. */
  async function startHeld(cookie: string): Promise<{ answers: Promise<LightMyRequestResponse[]> }> {
    const answers = Promise.all(Array.from({ length: IN_FLIGHT }, () => get('/api/held', cookie)));
    await until(`${IN_FLIGHT} requests inside the held route`, () => held === IN_FLIGHT);
    return { answers };
  }

  test('a session used after logout gets 401, even when requests that began before the logout finish after it', async () => {
    const before = await sessions().countDocuments();
    const cookie = await logIn(app, OPERATOR);
    assert.equal(await sessions().countDocuments(), before + 1);
    const { csrfToken } = (await get('/api/session', cookie)).json<{ csrfToken: string }>();

    const inFlight = await startHeld(cookie);
    // Ordinary reads racing the logout too.
    const racing = Array.from({ length: IN_FLIGHT }, () => get('/api/companies', cookie));
    const logout = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: { cookie },
      payload: { _csrf: csrfToken },
    });
    assert.equal(logout.statusCode, 303);
    assert.ok(sessionCookieCleared(logout), 'the logout tells the browser to drop the session cookie');
    hold.open();
    for (const res of await inFlight.answers) assert.equal(res.statusCode, 200, 'began while logged in');
    await Promise.all(racing);

    assert.equal(await sessions().countDocuments(), before, 'nothing brought the session back');
    const api = await get('/api/companies', cookie);
    assert.equal(api.statusCode, 401);
    const page = await get('/companies', cookie);
    assert.equal(page.statusCode, 303);
    assert.match(String(page.headers.location), /^\/login\?next=/);
  });

  test('a session past its absolute limit stays dead, even with requests in flight across the limit', async () => {
    const start = new Date('2026-12-02T09:00:00Z');
    clock = start;
    const cookie = await logIn(app, OPERATOR);
    // Busy all day, a request every 20 minutes: the idle limit never ends it.
    for (let at = 20 * MINUTE; at < ABSOLUTE_MS - MINUTE; at += 20 * MINUTE) {
      clock = new Date(start.getTime() + at);
      assert.equal((await get('/api/companies', cookie)).statusCode, 200, `at +${at / MINUTE} min`);
    }
    clock = new Date(start.getTime() + ABSOLUTE_MS - MINUTE);
    const inFlight = await startHeld(cookie);

    clock = new Date(start.getTime() + ABSOLUTE_MS + 1_000);
    assert.equal((await get('/api/companies', cookie)).statusCode, 401, 'past the limit');
    hold.open();
    for (const res of await inFlight.answers) assert.equal(res.statusCode, 200, 'began before the limit');

    // A stolen cookie kept busy gets nothing after the limit, however many requests straddle it.
    for (const later of [MINUTE, 10 * MINUTE, 2 * HOUR, ABSOLUTE_MS]) {
      clock = new Date(start.getTime() + ABSOLUTE_MS + later);
      assert.equal((await get('/api/companies', cookie)).statusCode, 401, `at the limit + ${later / MINUTE} min`);
    }
    const docs = await sessions().find({}).toArray();
    assert.ok(
      docs.every((d) => (d.absoluteExpiresAt as Date).getTime() <= start.getTime() + ABSOLUTE_MS),
      'no stored session ends later than the one logged in at the start',
    );
    clock = new Date('2026-12-02T08:00:00Z');
  });

  test('500 anonymous visits of the login page write no session document, and its stateless CSRF token logs in', async () => {
    const before = await sessions().countDocuments();
    for (let batch = 0; batch < 10; batch++) {
      const pages = await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'GET', url: '/login' })));
      for (const page of pages) assert.equal(page.statusCode, 200);
    }
    assert.equal(await sessions().countDocuments(), before, 'no document for anonymous visits');

    // The form works from its cookie and token alone; without them the login is refused.
    const { csrf, page } = await loginForm(app);
    const payload = { _csrf: csrf, username: OPERATOR.user, password: OPERATOR.password, next: '/companies' };
    const noCookie = await app.inject({ method: 'POST', url: '/login', payload });
    assert.equal(noCookie.statusCode, 403);
    const otherToken = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { cookie: cookieHeader(page) },
      payload: { ...payload, _csrf: (await loginForm(app)).csrf },
    });
    assert.equal(otherToken.statusCode, 403, "another visit's token does not match this cookie");
    const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie: cookieHeader(page) }, payload });
    assert.equal(login.statusCode, 303);
    assert.equal(await sessions().countDocuments(), before + 1, 'the login is the first document');

    // The login form's (anonymous) token is worth nothing once logged in: tokens are bound to the session.
    const cookie = cookieHeader(page, login);
    const withLoginToken = await app.inject({
      method: 'POST',
      url: '/api/companies/acme/sync',
      headers: { cookie, 'csrf-token': csrf },
      payload: {},
    });
    assert.equal(withLoginToken.statusCode, 403);
    assert.equal(withLoginToken.json<{ error: string }>().error, 'csrf');
  });
});
