import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../config/env';
import type { ConsoleSettings } from '../../console/config';
import { LoginGate } from '../../console/login';
import { hashPassword } from '../../console/password';
import { buildConsole } from '../../console/server';
import { ConsoleAccountsRepository } from '../../db/console-accounts-repository';
import { LoginAttemptsRepository } from '../../db/login-attempts-repository';
import { ADDRESS_LOCKOUT } from '../../domain/login-lockout';
import type { OperationsDeps } from '../../operations';
import { consoleSettings, cookieHeader, loginForm } from './console-kit';
import { MONGODB_URI, openStack, TEMPORAL_ADDRESS, type Stack } from './helpers';

const OPERATOR = { user: 'olga', password: `operator-${randomBytes(6).toString('hex')}` };
const VIEWER = { user: 'victor', password: `viewer-${randomBytes(6).toString('hex')}` };
/** Ten times the failures an address may make before it is locked. */
const ATTEMPTS = 10 * ADDRESS_LOCKOUT.freeFailures;
const PROXY = '198.51.100.10';
const VICTIM = '192.0.2.55';

describe('login throttling behind proxies, per IPv6 /64, and what a flood of logins costs (real store)', () => {
  let stack: Stack;
  let deps: OperationsDeps;
  const apps: FastifyInstance[] = [];

  before(async () => {
    stack = await openStack('console-throttling');
    deps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB: stack.db.databaseName }),
    };
    const accounts = new ConsoleAccountsRepository(stack.db);
    for (const [who, role] of [
      [OPERATOR, 'operator'],
      [VIEWER, 'viewer'],
    ] as const) {
      await accounts.create({
        username: who.user,
        role,
        passwordHash: await hashPassword(who.password),
        createdBy: 'cli',
      });
    }
  });

  after(async () => {
    for (const app of apps) await app.close();
    await stack?.close();
  });

  // Each test starts with no failure counted anywhere.
  beforeEach(async () => {
    await stack.db.collection(LoginAttemptsRepository.collectionName).deleteMany({});
  });

  async function consoleWith(overrides: Partial<ConsoleSettings>, gate = new LoginGate()) {
    const app = await buildConsole({ deps, db: stack.db, settings: consoleSettings(overrides), loginGate: gate });
    apps.push(app);
    return app;
  }

  /** One login through the form, from `peer`, with whatever X-Forwarded-For the client chose to send. */
  async function login(
    app: FastifyInstance,
    who: { user: string; password: string },
    from: { peer: string; forwardedFor?: string },
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = from.forwardedFor ? { 'x-forwarded-for': from.forwardedFor } : {};
    const { csrf, page } = await loginForm(app, { remoteAddress: from.peer, headers });
    return app.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: from.peer,
      headers: { ...headers, cookie: cookieHeader(page) },
      payload: { _csrf: csrf, username: who.user, password: who.password, next: '/companies' },
    });
  }

  const wrong = (user: string) => ({ user, password: 'not-the-password-at-all' });
  const statuses = (responses: LightMyRequestResponse[]) => {
    const count = new Map<number, number>();
    for (const r of responses) count.set(r.statusCode, (count.get(r.statusCode) ?? 0) + 1);
    return Object.fromEntries(count);
  };

  test(`${ATTEMPTS} failed logins from an untrusted peer rotating X-Forwarded-For lock the account and the peer, never the addresses it names`, async () => {
    const gate = new LoginGate();
    const app = await consoleWith({}, gate);
    const answers: LightMyRequestResponse[] = [];
    // Half against one account, each naming another client address…
    for (let i = 0; i < ATTEMPTS / 2; i++) {
      answers.push(await login(app, wrong(OPERATOR.user), { peer: PROXY, forwardedFor: `203.0.113.${i % 250}` }));
    }
    // …half against names that do not exist, all naming the victim's address.
    for (let i = 0; i < ATTEMPTS / 2; i++) {
      answers.push(await login(app, wrong(`ghost-${i}`), { peer: PROXY, forwardedFor: VICTIM }));
    }
    const counted = statuses(answers);
    // Every failure answers 401 but the two that lock: the account's 5th and the peer's 20th.
    assert.equal(counted[401], ADDRESS_LOCKOUT.freeFailures - 2, JSON.stringify(counted));
    assert.equal(counted[429], ATTEMPTS - (counted[401] ?? 0), JSON.stringify(counted));
    // A locked key is refused before any password check: only the counted failures ran scrypt.
    assert.equal(gate.started, ADDRESS_LOCKOUT.freeFailures, 'password checks run');

    const account = await login(app, OPERATOR, { peer: '203.0.113.200' });
    assert.equal(account.statusCode, 429, 'the account is locked, whatever the address');
    const peer = await login(app, VIEWER, { peer: PROXY });
    assert.equal(peer.statusCode, 429, 'the peer is locked, whatever the account');
    const victim = await login(app, VIEWER, { peer: VICTIM });
    assert.equal(victim.statusCode, 303, 'the address named in the header was never counted');
  });

  test('with the peer configured as a trusted proxy, the forwarded address is the client counted', async () => {
    const app = await consoleWith({ trustedProxies: ['198.51.100.0/24'] });
    const client = '203.0.113.77';
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      answers.push(await login(app, wrong(`ghost-${i}`), { peer: PROXY, forwardedFor: client }));
    }
    assert.equal(statuses(answers)[429], ATTEMPTS - ADDRESS_LOCKOUT.freeFailures + 1);
    assert.equal((await login(app, VIEWER, { peer: PROXY, forwardedFor: client })).statusCode, 429);
    assert.equal(
      (await login(app, VIEWER, { peer: PROXY, forwardedFor: '203.0.113.78' })).statusCode,
      303,
      'another client behind the same proxy is not locked',
    );
    // An untrusted peer's header is still its own word: it is counted as itself.
    assert.equal((await login(app, VIEWER, { peer: '192.0.2.9', forwardedFor: client })).statusCode, 303);
  });

  test('IPv6 clients are counted per /64: any address of a locked /64 is locked, the next /64 is not', async () => {
    const app = await consoleWith({ trustedProxies: [PROXY] });
    const inPrefix = () => `2001:db8:1:2:${[1, 2, 3, 4].map(() => randomBytes(2).toString('hex')).join(':')}`;
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      answers.push(await login(app, wrong(`ghost-${i}`), { peer: PROXY, forwardedFor: inPrefix() }));
    }
    assert.equal(statuses(answers)[429], ATTEMPTS - ADDRESS_LOCKOUT.freeFailures + 1);
    assert.equal((await login(app, VIEWER, { peer: PROXY, forwardedFor: inPrefix() })).statusCode, 429);
    assert.equal((await login(app, VIEWER, { peer: PROXY, forwardedFor: '2001:db8:1:3::1' })).statusCode, 303);
  });

  test('a flood of logins runs at most two password checks at once; past twenty waiting, "busy" without a check', async (t) => {
    const gate = new LoginGate(2, 20);
    const app = await consoleWith({ trustedProxies: [PROXY] }, gate);
    // Distinct names and addresses: nothing is locked, every attempt would cost a check.
    const forms = await Promise.all(
      Array.from({ length: 10 * (gate.concurrency + gate.queue) }, (_, i) =>
        loginForm(app, { remoteAddress: PROXY, headers: { 'x-forwarded-for': `10.9.${i >> 8}.${i & 255}` } }).then(
          (form) => ({ form, address: `10.9.${i >> 8}.${i & 255}`, user: `ghost-${i}` }),
        ),
      ),
    );
    const answers = await Promise.all(
      forms.map(({ form, address, user }) =>
        app.inject({
          method: 'POST',
          url: '/login',
          remoteAddress: PROXY,
          headers: { 'x-forwarded-for': address, cookie: cookieHeader(form.page) },
          payload: { _csrf: form.csrf, username: user, password: 'not-the-password-at-all', next: '/companies' },
        }),
      ),
    );
    const counted = statuses(answers);
    t.diagnostic(`answers ${JSON.stringify(counted)}; checks run ${gate.started}, at most ${gate.highWater} at once`);
    assert.ok(gate.highWater <= gate.concurrency, `at most ${gate.concurrency} at once, saw ${gate.highWater}`);
    assert.ok((counted[503] ?? 0) > 0, `some were turned away: ${JSON.stringify(counted)}`);
    assert.equal(counted[401], gate.started, 'every attempt let in was checked and refused');
    assert.equal((counted[401] ?? 0) + (counted[503] ?? 0), answers.length, JSON.stringify(counted));
    const busy = answers.find((a) => a.statusCode === 503)!;
    assert.equal(busy.headers['retry-after'], '2');
  });
});
