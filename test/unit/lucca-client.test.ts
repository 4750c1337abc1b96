import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import {
  countUsersInScopes,
  DEFAULT_MAX_PAGE_BYTES,
  LUCCA_PAGE_SIZE,
  LUCCA_USER_FIELDS,
  LuccaClient,
  luccaUserOrganisation,
  MAX_LOCATE_REQUESTS,
  MAX_SCOPE_FILTER_CHARS,
  type LuccaClientOptions,
  type LuccaRequestOutcome,
  type LuccaUsersReadOptions,
  type UsersPagingPosition,
} from '../../lucca/client';
import {
  LuccaAuthError,
  LuccaError,
  LuccaMissingFieldError,
  LuccaNotLuccaError,
  LuccaRateLimitedError,
  LuccaRequestError,
  LuccaTooLargeError,
  LuccaTransientError,
  LuccaUnreachableError,
} from '../../lucca/errors';
import { RollingWindowLimiter } from '../../lucca/rate-limiter';
import {
  FAKE_ORGANISATION,
  generateLuccaUsers,
  moveUsers,
  renameOrgUnit,
  startFakeLucca,
  type FakeLucca,
  type LuccaRawUser,
  type TenantOptions,
} from '../../dev-tools/fake-lucca/index';
import { MIN_HUGE_BYTES } from '../../dev-tools/fake-lucca/faults';

/** A user with every field the sync asks for but `modifiedAt`. */
const LEGACY_USER = {
  id: 9,
  firstName: 'Chloé',
  lastName: 'Arrou',
  mail: 'chloe.arrou@acme.fr',
  birthDate: null,
  dtContractStart: '2014-09-01T00:00:00',
  dtContractEnd: null,
};

const KEY = '9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D';
const TODAY = '2025-11-22';

let fake: FakeLucca;
let tenantCount = 0;

before(async () => {
  fake = await startFakeLucca();
});

after(async () => {
  await fake.close();
});

/** A fresh tenant per test, so request logs, faults and rate-limit buckets never mix. */
function newTenant(opts: TenantOptions = {}): { name: string; url: string } {
  const name = `tenant-${++tenantCount}`;
  fake.addTenant(name, {
    users: generateLuccaUsers({ size: 60, seed: tenantCount, today: TODAY }),
    apiKeys: [{ key: KEY, principal: 'HappyPal key' }],
    today: TODAY,
    rateLimit: false,
    ...opts,
  });
  return { name, url: fake.tenantUrl(name) };
}

function client(baseUrl: string, opts: Partial<LuccaClientOptions> = {}): LuccaClient {
  return new LuccaClient({ baseUrl, apiKey: KEY, limiter: null, ...opts });
}

function assertNoSecret(error: unknown): void {
  assert.ok(error instanceof Error);
  for (const text of [error.message, error.stack ?? '', inspect(error), JSON.stringify(error)]) {
    assert.ok(!text.includes(KEY), 'the API key leaked into the error');
    assert.ok(!/lucca application/i.test(text), 'the Authorization header leaked into the error');
  }
}

/** Asserts a rejection of the given type and returns the error for further checks. */
async function rejection<T extends LuccaError>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
): Promise<T> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${inspect(error)}`);
    assertNoSecret(error);
    return error;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

function ids(items: unknown[]): number[] {
  return items.map((item) => (item as { id: number }).id);
}

describe('LuccaClient against the fake Lucca', () => {
  test('asks for every user, leavers included, with the explicit fields, a stable order and the key in the header', async () => {
    const { name, url } = newTenant();
    const page = await client(url).fetchUsersPage(0);

    const log = fake.requests(name);
    assert.equal(log.length, 1);
    const [request] = log;
    assert.equal(request?.method, 'GET');
    assert.equal(request?.path, '/api/v3/users');
    assert.deepEqual(request?.query, {
      formerEmployees: 'true',
      fields: 'id,firstName,lastName,mail,birthDate,dtContractStart,dtContractEnd,modifiedAt',
      orderBy: 'id,asc',
      paging: '0,1000',
    });
    assert.equal(request?.authorization, `lucca application=${KEY}`);
    assert.equal(page.items.length, 60, 'former employees are included');
    assert.deepEqual(Object.keys(page.items[0] as object).sort(), [...LUCCA_USER_FIELDS].sort());
    assert.equal(page.principal, 'HappyPal key');
  });

  test('reads a company page by page until a short page, in id order', async () => {
    const users = generateLuccaUsers({ size: 2_345, seed: 7, today: TODAY });
    const { name, url } = newTenant({ users });
    const lucca = client(url);

    const pages = [];
    for (let offset = 0; ; offset += LUCCA_PAGE_SIZE) {
      const page = await lucca.fetchUsersPage(offset);
      pages.push(page);
      if (page.isLast) break;
    }

    assert.deepEqual(
      pages.map((p) => [p.offset, p.limit, p.items.length, p.isLast]),
      [
        [0, 1000, 1000, false],
        [1000, 1000, 1000, false],
        [2000, 1000, 345, true],
      ],
    );
    const seen = pages.flatMap((p) => ids(p.items));
    assert.deepEqual(
      seen,
      users.map((u) => u.id).sort((a, b) => a - b),
    );
    assert.deepEqual(
      fake.requests(name).map((r) => r.query.paging),
      ['0,1000', '1000,1000', '2000,1000'],
    );
  });

  describe('usersPages, the paged read the sync runs', () => {
    const users = generateLuccaUsers({ size: 25, seed: 11, today: TODAY });
    const sortedIds = users.map((u) => u.id).sort((a, b) => a - b);

    async function readAll(lucca: LuccaClient, from?: UsersPagingPosition) {
      const reads = [];
      for await (const read of lucca.usersPages(from)) reads.push(read);
      return reads;
    }

    test('yields every user once, page by page, each page after the first asked one user early', async () => {
      const { name, url } = newTenant({ users });
      const reads = await readAll(client(url, { pageSize: 10 }));

      assert.deepEqual(
        reads.map((r) => [r.page, r.requestOffset, r.isLast]),
        [
          [0, 0, false],
          [1, 9, false],
          [2, 18, true],
        ],
      );
      assert.deepEqual(
        reads.flatMap((r) => ids(r.items)),
        sortedIds,
        'the overlap user is not yielded twice',
      );
      assert.deepEqual(reads.at(-1)?.next, { page: 3, offset: 25, lastId: sortedIds.at(-1), moved: false });
      assert.deepEqual(
        fake.requests(name).map((r) => r.query.paging),
        ['0,10', '9,10', '18,10'],
      );
    });

    test('resumes from a checkpoint without asking for the pages before it', async () => {
      const { name, url } = newTenant({ users });
      const lucca = client(url, { pageSize: 10 });
      const [first] = await readAll(client(url, { pageSize: 10 })).then((r) => r.slice(0, 1));
      fake.clearRequests();

      const rest = await readAll(lucca, first!.next);

      assert.deepEqual(
        rest.map((r) => r.page),
        [1, 2],
      );
      assert.deepEqual([...ids(first!.items), ...rest.flatMap((r) => ids(r.items))], sortedIds);
      assert.deepEqual(
        fake.requests(name).map((r) => r.query.paging),
        ['9,10', '18,10'],
      );
    });

    test('says the data moved when a user read on an earlier page is deleted before the next one', async () => {
      const { name, url } = newTenant({ users });
      // Before the second page is served, delete the first user: everyone slides back one place.
      fake.onNextRequest(name, (all) => all.filter((u) => u.id !== sortedIds[0]), { whenOffset: 9 });

      const reads = await readAll(client(url, { pageSize: 10 }));

      assert.equal(reads.at(-1)?.next.moved, true);
      assert.ok(
        reads.slice(0, 1).every((r) => !r.next.moved),
        'nothing had moved after the first page',
      );
    });
  });

  test('a company of exactly one page size ends on an empty page', async () => {
    const { url } = newTenant({ users: generateLuccaUsers({ size: 20, seed: 3, today: TODAY }) });
    const lucca = client(url);
    const first = await lucca.fetchUsersPage(0, 10);
    const second = await lucca.fetchUsersPage(10, 10);
    const third = await lucca.fetchUsersPage(20, 10);
    assert.deepEqual(
      [first, second, third].map((p) => [p.items.length, p.isLast]),
      [
        [10, false],
        [10, false],
        [0, true],
      ],
    );
  });

  test('checkAccess makes one cheap call and reports who the key is', async () => {
    const { name, url } = newTenant();
    assert.deepEqual(await client(url).checkAccess(), { principal: 'HappyPal key', sample: 1 });
    assert.deepEqual(
      fake.requests(name).map((r) => r.query.paging),
      ['0,1'],
    );
  });

  test('a revoked key is a non-retryable LuccaAuthError telling the operator what to do', async () => {
    const { url } = newTenant({ apiKeys: [{ key: KEY, revoked: true }] });
    const error = await rejection(client(url).checkAccess(), LuccaAuthError);
    assert.equal(error.code, 'lucca-auth');
    assert.equal(error.status, 401);
    assert.equal(error.retryable, false);
    assert.match(error.message, /refused the API key \(401\)/);
    assert.match(error.message, /Ask the company's Lucca admin for a new API key and run onboard again/);
    assert.match(error.message, /127\.0\.0\.1/, 'the host is named');
  });

  test('an unknown key is a LuccaAuthError too', async () => {
    const { url } = newTenant({ apiKeys: [{ key: 'another-key' }] });
    const error = await rejection(client(url).fetchUsersPage(0), LuccaAuthError);
    assert.equal(error.status, 401);
  });

  test('a key without the users permission is a LuccaAuthError explaining the missing permission', async () => {
    const { url } = newTenant({ apiKeys: [{ key: KEY, forbidden: true }] });
    const error = await rejection(client(url).fetchUsersPage(0), LuccaAuthError);
    assert.equal(error.code, 'lucca-auth');
    assert.equal(error.status, 403);
    assert.equal(error.retryable, false);
    assert.match(error.message, /lacks a permission \(403\)/);
  });

  test('the client never shows its key when inspected or serialised', () => {
    const lucca = client('http://127.0.0.1:1/t/x');
    assert.ok(!inspect(lucca, { showHidden: true, depth: 5 }).includes(KEY));
    assert.ok(!JSON.stringify(lucca).includes(KEY));
  });

  test('a key that cannot travel in a header is refused up front without echoing it', () => {
    const bad = `${KEY}\nX-Injected: 1`;
    assert.throws(
      () => new LuccaClient({ baseUrl: 'https://acme.ilucca.net', apiKey: bad, limiter: null }),
      (error: unknown) => {
        assert.ok(error instanceof LuccaAuthError);
        assert.ok(!error.message.includes(KEY));
        return true;
      },
    );
    assert.throws(() => new LuccaClient({ baseUrl: 'https://acme.ilucca.net', apiKey: '  ' }), LuccaAuthError);
  });

  describe('a field the key may no longer read', () => {
    test('left out of every user is a read error naming the field, not a null', async () => {
      const { url } = newTenant({ apiKeys: [{ key: KEY, seeBirthDates: false, withheld: 'omitted' }] });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaMissingFieldError);
      assert.equal(error.code, 'lucca-missing-field');
      assert.equal(error.retryable, false);
      assert.match(error.message, /without birthDate for every user of the page at offset 0/);
    });

    test('sent as null is data (the plan guards against blanking it for everyone)', async () => {
      const { url } = newTenant({ apiKeys: [{ key: KEY, seeBirthDates: false, withheld: 'null' }] });
      const page = await client(url).fetchUsersPage(0);
      assert.ok(page.items.length > 0);
      assert.ok(page.items.every((u) => (u as { birthDate: unknown }).birthDate === null));
    });

    test('an empty page proves nothing missing', async () => {
      const { url } = newTenant({ users: [], apiKeys: [{ key: KEY, seeBirthDates: false, withheld: 'omitted' }] });
      assert.equal((await client(url).fetchUsersPage(0)).items.length, 0);
    });
  });

  describe('a byte cap on each answer', () => {
    const CAP = 256 * 1024;

    test('an answer of exactly the cap is read, streamed or announced', async () => {
      const { name, url } = newTenant();
      for (const announceLength of [false, true]) {
        fake.addFault({ tenant: name, kind: 'huge', bytes: CAP, announceLength });
        const page = await client(url, { maxPageBytes: CAP }).fetchUsersPage(0);
        assert.equal(page.items.length, 1);
        assert.equal((page.items[0] as { lastName: string }).lastName.length, CAP - MIN_HUGE_BYTES);
      }
    });

    for (const bytes of [CAP + 1, CAP * 10]) {
      for (const announceLength of [false, true]) {
        test(`an answer of ${bytes} bytes (${announceLength ? 'announced' : 'streamed'}) is refused with lucca-too-large, not retried`, async () => {
          const { name, url } = newTenant();
          const outcomes: LuccaRequestOutcome[] = [];
          const lucca = client(url, { maxPageBytes: CAP, onRequest: (o) => outcomes.push(o) });
          fake.addFault({ tenant: name, kind: 'huge', bytes, announceLength });

          const error = await rejection(lucca.fetchUsersPage(0), LuccaTooLargeError);

          assert.equal(error.code, 'lucca-too-large');
          assert.equal(error.retryable, false);
          assert.match(
            error.message,
            announceLength
              ? /announced an answer of [\d.]+ (KiB|MiB), larger than the 256 KiB one page of users may take/
              : /sent an answer larger than the 256 KiB one page of users may take/,
          );
          assert.match(error.message, /\(LUCCA_MAX_PAGE_BYTES\); the read was stopped and nothing was changed/);
          assert.deepEqual(outcomes, ['lucca-too-large']);
          assert.equal(fake.requests(name).length, 1);
          assert.equal((await lucca.fetchUsersPage(0)).items.length, 60, 'the next answer is read as usual');
        });
      }
    }

    test('a 500 MB answer is stopped close to the default cap, not read to its end', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'huge' });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaTooLargeError);
      assert.match(error.message, /larger than the 16 MiB/);
      // Read again once the next request is served: the fake makes the body only as it is read.
      await client(url).fetchUsersPage(0);
      const sent = fake.requests(name)[0]?.bytesSent ?? NaN;
      assert.ok(sent > DEFAULT_MAX_PAGE_BYTES, `${sent} bytes sent: the answer streamed past the cap`);
      assert.ok(sent < 4 * DEFAULT_MAX_PAGE_BYTES, `${sent} bytes of 500 MB made before the client hung up`);
    });

    test('a 500 MB answer announced in its Content-Length is refused before its body is read', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'huge', announceLength: true });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaTooLargeError);
      assert.match(error.message, /announced an answer of 476\.8 MiB/);
      await client(url).fetchUsersPage(0);
      const sent = fake.requests(name)[0]?.bytesSent ?? NaN;
      assert.ok(sent < DEFAULT_MAX_PAGE_BYTES, `${sent} bytes made, the socket's buffers at most`);
    });

    test('the default cap is at least ten times a real page of 1,000 users with ten more fields than the sync asks for', async () => {
      const extra = (u: { id: number }) => ({
        employeeNumber: `E${100_000 + u.id}`,
        jobTitle: 'Responsable des ressources humaines et de la paie',
        managerId: 1 + (u.id % 40),
        manager: {
          id: 1 + (u.id % 40),
          name: 'Jean-Baptiste Lefèvre',
          url: `https://acme.ilucca.net/api/v3/users/${u.id}`,
        },
        legalEntityId: 1 + (u.id % 3),
        legalEntity: {
          id: 1 + (u.id % 3),
          name: 'Acme Services SAS',
          url: 'https://acme.ilucca.net/api/v3/legalentities/1',
        },
        departmentId: 10 + (u.id % 25),
        department: {
          id: 10,
          name: 'Direction financière et comptable',
          url: 'https://acme.ilucca.net/api/v3/departments/10',
        },
        culture: { id: 1036, name: 'Français (France)', code: 'fr-FR' },
        calendar: {
          id: 2,
          name: 'Calendrier France métropolitaine',
          url: 'https://acme.ilucca.net/api/v3/calendars/2',
        },
      });
      const users = generateLuccaUsers({ size: 1_000, seed: 7, today: TODAY }).map((u) => ({ ...u, ...extra(u) }));
      const { url } = newTenant({ users });
      const fields = [...LUCCA_USER_FIELDS, ...Object.keys(extra({ id: 1 }))];
      assert.equal(fields.length, LUCCA_USER_FIELDS.length + 10);
      const res = await fetch(
        `${url}/api/v3/users?formerEmployees=true&fields=${fields.join(',')}&orderBy=id,asc&paging=0,1000`,
        { headers: { Authorization: `lucca application=${KEY}` } },
      );
      const page = Buffer.from(await res.arrayBuffer());
      assert.equal((JSON.parse(page.toString('utf8')) as { data: { items: unknown[] } }).data.items.length, 1_000);
      assert.ok(
        DEFAULT_MAX_PAGE_BYTES >= 10 * page.length,
        `the default cap (${DEFAULT_MAX_PAGE_BYTES} bytes) is not ten times a real page (${page.length} bytes)`,
      );
    });

    test('a cap that is not a positive whole number of bytes is refused', () => {
      for (const maxPageBytes of [0, -1, 1.5, Number.NaN]) {
        assert.throws(() => client('https://acme.ilucca.net', { maxPageBytes }), RangeError);
      }
    });
  });

  describe('rate limiting', () => {
    test('a 429 is waited out as Retry-After says, then the same page is read again', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'status', status: 429, retryAfter: '1' });
      const started = Date.now();
      const page = await client(url).fetchUsersPage(0);

      assert.equal(page.items.length, 60);
      assert.ok(Date.now() - started >= 990, 'the client waited');
      const log = fake.requests(name);
      assert.deepEqual(
        log.map((r) => [r.status, r.query.paging]),
        [
          [429, '0,1000'],
          [200, '0,1000'],
        ],
      );
      assert.ok((log[1]?.at ?? 0) - (log[0]?.at ?? 0) >= 990);
    });

    test("the fake's own rate limit answers 429 and the client gets through after waiting", async () => {
      const { name, url } = newTenant({ rateLimit: { limit: 2, windowMs: 1000 } });
      const lucca = client(url);
      for (let i = 0; i < 3; i++) await lucca.fetchUsersPage(0, 1);
      assert.deepEqual(
        fake.requests(name).map((r) => r.status),
        [200, 200, 429, 200],
      );
    });

    test('without Retry-After the client backs off from one second', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'status', status: 429 });
      await client(url).fetchUsersPage(0);
      const [refused, served] = fake.requests(name).map((r) => r.at);
      const gap = (served ?? 0) - (refused ?? 0);
      assert.ok(gap >= 990 && gap < 1900, `waited ${gap} ms`);
    });

    test('too many 429s in a row end in a LuccaRateLimitedError', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'status', status: 429, retryAfter: '0', times: 5 });
      const error = await rejection(client(url, { maxRateLimitWaits: 2 }).fetchUsersPage(0), LuccaRateLimitedError);
      assert.equal(error.code, 'lucca-rate-limited');
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 0);
      assert.equal(fake.requests(name).length, 3, 'one try and two retries');
    });

    test('a 429 asking for a very long wait is handed to the caller at once', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'status', status: 429, retryAfter: '600' });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaRateLimitedError);
      assert.equal(error.retryAfterMs, 600_000);
      assert.equal(fake.requests(name).length, 1);
    });

    test('the limiter keeps a burst within the limit, measured where Lucca counts: on arrival', async () => {
      const { name, url } = newTenant({ rateLimit: { limit: 5, windowMs: 1000 } });
      const limiter = new RollingWindowLimiter({ limit: 5, windowMs: 1000, marginMs: 100 });
      const lucca = client(url, { limiter });
      const started = Date.now();
      await Promise.all(Array.from({ length: 12 }, () => lucca.fetchUsersPage(0, 1)));

      const log = fake.requests(name);
      assert.equal(log.length, 12);
      assert.ok(
        log.every((r) => r.status === 200),
        'no 429',
      );
      const arrivals = log.map((r) => r.at).sort((a, b) => a - b);
      for (let i = 5; i < arrivals.length; i++) {
        assert.ok((arrivals[i] ?? 0) - (arrivals[i - 5] ?? 0) >= 1000, `request ${i} arrived within the window`);
      }
      assert.ok((arrivals[4] ?? 0) - (arrivals[0] ?? 0) < 500, 'the first five go at once');
      assert.ok(Date.now() - started >= 2000);
    });
  });

  describe('transient failures are thrown at once as retryable LuccaTransientError', () => {
    for (const status of [500, 503, 408]) {
      test(`HTTP ${status}`, async () => {
        const { name, url } = newTenant();
        fake.addFault({ tenant: name, kind: 'status', status });
        const error = await rejection(client(url).fetchUsersPage(0), LuccaTransientError);
        assert.equal(error.code, 'lucca-unavailable');
        assert.equal(error.status, status);
        assert.equal(error.retryable, true);
        assert.equal(fake.requests(name).length, 1, 'the caller owns retries');
      });
    }

    test('a connection reset', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'reset' });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaTransientError);
      assert.equal(error.retryable, true);
    });

    test('a truncated JSON body', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'truncate' });
      const error = await rejection(client(url).fetchUsersPage(0), LuccaTransientError);
      assert.match(error.message, /truncated or invalid JSON/);
    });

    test('a response slower than the timeout', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'slow', delayMs: 3000 });
      const started = Date.now();
      const error = await rejection(client(url, { timeoutMs: 200 }).fetchUsersPage(0), LuccaTransientError);
      assert.match(error.message, /200 ms timeout/);
      assert.ok(Date.now() - started < 2000);
    });

    test('the next call after a fault succeeds', async () => {
      const { name, url } = newTenant();
      fake.addFault({ tenant: name, kind: 'status', status: 503 });
      const lucca = client(url);
      await rejection(lucca.fetchUsersPage(0), LuccaTransientError);
      assert.equal((await lucca.fetchUsersPage(0)).items.length, 60);
    });
  });

  test('a 400 is a non-retryable LuccaRequestError', async () => {
    const { name, url } = newTenant();
    fake.addFault({ tenant: name, kind: 'status', status: 400 });
    const error = await rejection(client(url).fetchUsersPage(0), LuccaRequestError);
    assert.equal(error.code, 'lucca-request');
    assert.equal(error.retryable, false);
  });

  test('a tenant that does not exist (404) is a LuccaRequestError pointing at the domain', async () => {
    const error = await rejection(client(fake.tenantUrl('nobody')).fetchUsersPage(0), LuccaRequestError);
    assert.equal(error.status, 404);
    assert.match(error.message, /Check the Lucca domain/);
  });

  test('a caller abort rejects with the caller reason, not a Lucca error', async () => {
    const { name, url } = newTenant();
    fake.addFault({ tenant: name, kind: 'slow', delayMs: 3000 });
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(client(url).fetchUsersPage(0, LUCCA_PAGE_SIZE, controller.signal), (e) => e === reason);
  });

  test('a caller abort also interrupts a 429 wait', async () => {
    const { name, url } = newTenant();
    fake.addFault({ tenant: name, kind: 'status', status: 429, retryAfter: '30' });
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    const lucca = client(url);
    setTimeout(() => controller.abort(reason), 300);
    const started = Date.now();
    await assert.rejects(lucca.fetchUsersPage(0, LUCCA_PAGE_SIZE, controller.signal), (e) => e === reason);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(
      fake.requests(name).map((r) => r.status),
      [429],
      'the abort came during the wait',
    );
  });

  test('every request is reported with how it ended, a 429 apart from the requests that went through', async () => {
    const { name, url } = newTenant();
    const outcomes: LuccaRequestOutcome[] = [];
    const lucca = client(url, { onRequest: (outcome) => outcomes.push(outcome) });
    fake.addFault({ tenant: name, kind: 'status', status: 429, retryAfter: '0' });
    await lucca.fetchUsersPage(0);
    fake.addFault({ tenant: name, kind: 'status', status: 503 });
    await rejection(lucca.fetchUsersPage(0), LuccaTransientError);
    fake.addFault({ tenant: name, kind: 'slow', delayMs: 3000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('activity cancelled')), 50);
    await assert.rejects(lucca.fetchUsersPage(0, LUCCA_PAGE_SIZE, controller.signal));
    await rejection(
      client(url, { apiKey: 'REVOKED-KEY', onRequest: (o) => outcomes.push(o) }).fetchUsersPage(0),
      LuccaAuthError,
    );

    assert.deepEqual(outcomes, ['lucca-rate-limited', 'ok', 'lucca-unavailable', 'aborted', 'lucca-auth']);
  });
});

interface ForeignRequest {
  path: string;
  authorization: string | undefined;
}

/** Hosts that answer HTTP but are not Lucca: a wrong domain, a login page, a proxy. */
describe('organisation and scope', () => {
  const SIZE = 2_345;
  const company = generateLuccaUsers({ size: SIZE, seed: 21, today: TODAY });
  /** A scope as an operator would type it: unsorted, with a repeat. */
  const SCOPE = { legalEntityIds: [3, 1], departmentIds: [14, 12, 12] };
  const inScope = (u: LuccaRawUser) => [1, 3].includes(u.legalEntityId ?? 0) && [12, 14].includes(u.departmentId ?? 0);
  const idsOf = (users: readonly LuccaRawUser[], keep: (u: LuccaRawUser) => boolean = () => true) =>
    users.filter(keep).map((u) => u.id);

  async function readAll(lucca: LuccaClient, read: LuccaUsersReadOptions) {
    const reads = [];
    for await (const page of lucca.usersPages(undefined, undefined, read)) reads.push(page);
    return reads;
  }

  test('asked for the organisation, each user also carries its legal entity and department as {id, name}', async () => {
    const { name, url } = newTenant({ users: company });
    const page = await client(url).fetchUsersPage(0, 5, undefined, { organisation: true });
    assert.deepEqual(fake.requests(name)[0]?.query, {
      formerEmployees: 'true',
      fields:
        'id,firstName,lastName,mail,birthDate,dtContractStart,dtContractEnd,modifiedAt,' +
        'legalEntity[id,name],department[id,name]',
      orderBy: 'id,asc',
      paging: '0,5',
    });
    const stored = company.slice(0, 5);
    assert.deepEqual(
      page.items.map((u) => {
        const { legalEntity, department } = u as LuccaRawUser;
        return { legalEntity, department };
      }),
      stored.map(({ legalEntity, department }) => ({ legalEntity, department })),
    );
    assert.deepEqual(
      page.items.map((u) => luccaUserOrganisation(u)),
      stored.map(({ legalEntity, department }) => ({ legalEntity, department })),
    );
    assert.deepEqual(page.outOfScope, []);
  });

  test('a scope is asked of Lucca as legalEntityId and departmentId filters, and only the users inside it come back', async () => {
    const { name, url } = newTenant({ users: company });
    const reads = await readAll(client(url), { scope: SCOPE });
    const queries = fake.requests(name).map((r) => r.query);
    assert.ok(
      queries.every((q) => q.legalEntityId === '1,3' && q.departmentId === '12,14'),
      'every page asks Lucca to filter',
    );
    assert.ok(
      queries.every((q) => q.fields?.endsWith(',legalEntity[id,name],department[id,name]')),
      'every page asks for the organisation',
    );
    const expected = idsOf(company, inScope);
    assert.ok(expected.length > 100 && expected.length < SIZE / 2, `a real subset: ${expected.length}`);
    assert.deepEqual(
      reads.flatMap((r) => ids(r.items)),
      expected,
    );
    assert.deepEqual(
      reads.flatMap((r) => r.outOfScope),
      [],
    );
  });

  test('a tenant that ignores the filters leaks nobody: the others are dropped and listed by id and place only', async () => {
    const { name, url } = newTenant({ users: company, organisationFilters: 'ignore' });
    const reads = await readAll(client(url), { scope: SCOPE });
    assert.equal(fake.requests(name).length, Math.ceil(SIZE / LUCCA_PAGE_SIZE), 'the whole tenant was read');
    assert.deepEqual(
      reads.flatMap((r) => ids(r.items)),
      idsOf(company, inScope),
    );
    const dropped = reads.flatMap((r) => r.outOfScope);
    assert.deepEqual(
      dropped,
      company
        .filter((u) => !inScope(u))
        .map((u) => ({ id: u.id, legalEntityId: u.legalEntityId, departmentId: u.departmentId })),
    );
    assert.equal(reads.at(-1)?.next.offset, SIZE, 'paging counted what Lucca sent, not what was kept');
  });

  test('one list alone limits on its own; empty lists, or none, read the whole tenant as before', async () => {
    const { name, url } = newTenant({ users: company, organisationFilters: 'ignore' });
    const lucca = client(url);
    const departments = await readAll(lucca, { scope: { departmentIds: [16] } });
    assert.deepEqual(
      departments.flatMap((r) => ids(r.items)),
      idsOf(company, (u) => u.departmentId === 16),
    );
    fake.clearRequests();
    for (const scope of [{}, { legalEntityIds: [], departmentIds: [] }]) {
      const reads = await readAll(lucca, { scope });
      assert.equal(reads.flatMap((r) => r.items).length, SIZE);
    }
    assert.ok(
      fake.requests(name).every((r) => r.query.fields === LUCCA_USER_FIELDS.join(',') && !('legalEntityId' in r.query)),
      'an empty scope asks exactly what an unscoped sync asks',
    );
  });

  test('a scope too long to send in a URL (ten times the cap) is kept by the local check alone', async () => {
    const { name, url } = newTenant({ users: company });
    // 2,000 departments: the filter would be about 14,000 characters.
    const departmentIds = [12, 14, ...Array.from({ length: 1_998 }, (_, i) => 100_000 + i)];
    assert.ok(`departmentId=${departmentIds.join(',')}`.length >= 10 * MAX_SCOPE_FILTER_CHARS, 'ten times the cap');
    const reads = await readAll(client(url), { scope: { legalEntityIds: [1, 3], departmentIds } });
    const queries = fake.requests(name).map((r) => r.query);
    assert.ok(
      queries.every((q) => !('departmentId' in q) && !('legalEntityId' in q)),
      'no filter is sent',
    );
    assert.ok(
      queries.every((q) => q.paging !== undefined && q.fields?.includes('department[id,name]')),
      'the organisation is still read',
    );
    assert.deepEqual(
      reads.flatMap((r) => ids(r.items)),
      idsOf(company, inScope),
    );

    fake.clearRequests();
    const many = [12, 14, ...Array.from({ length: 98 }, (_, i) => 100_000 + i)];
    await readAll(client(url), { scope: { departmentIds: many } });
    assert.ok(
      fake.requests(name).every((r) => r.query.departmentId === many.join(',')),
      'a hundred ids are still sent',
    );
  });

  test('ids that cannot be Lucca’s are refused before any request', async () => {
    const { name, url } = newTenant();
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
      await assert.rejects(
        client(url).fetchUsersPage(0, 10, undefined, { scope: { departmentIds: [12, bad] } }),
        RangeError,
      );
    }
    await assert.rejects(readAll(client(url), { scope: { legalEntityIds: [0] } }), RangeError);
    assert.deepEqual(fake.requests(name), []);
  });

  test('a user moved out of the scope between two reads is gone from the next one, or dropped if Lucca ignores the filter', async () => {
    for (const organisationFilters of ['apply', 'ignore'] as const) {
      const { name, url } = newTenant({ users: company, organisationFilters });
      const lucca = client(url);
      const mover = company.find(inScope) as LuccaRawUser;
      const before = await readAll(lucca, { scope: SCOPE });
      assert.ok(before.flatMap((r) => ids(r.items)).includes(mover.id), 'in scope before the move');
      fake.mutateUsers(name, (users) =>
        moveUsers(users, [mover.id], { department: { id: 16, name: 'Direction Générale' } }),
      );
      const after = await readAll(lucca, { scope: SCOPE });
      assert.deepEqual(
        after.flatMap((r) => ids(r.items)),
        idsOf(company, inScope).filter((id) => id !== mover.id),
        organisationFilters,
      );
      const dropped = after.flatMap((r) => r.outOfScope).find((u) => u.id === mover.id);
      assert.deepEqual(
        dropped,
        organisationFilters === 'ignore'
          ? { id: mover.id, legalEntityId: mover.legalEntityId, departmentId: 16 }
          : undefined,
      );
    }
  });

  test('a renamed legal entity keeps its people in scope, under its new name', async () => {
    const { name, url } = newTenant({ users: company });
    const renamed = { id: 3, name: 'Acmé Rhône-Alpes & Bourgogne' };
    fake.mutateUsers(name, (users) => renameOrgUnit(users, 'legalEntity', renamed));
    const reads = await readAll(client(url), { scope: { legalEntityIds: [3] } });
    const items = reads.flatMap((r) => r.items);
    assert.deepEqual(
      ids(items),
      idsOf(company, (u) => u.legalEntityId === 3),
    );
    assert.ok(
      items.every((u) => luccaUserOrganisation(u).legalEntity?.name === renamed.name),
      'the new name on everyone',
    );
  });

  describe('locateUsers, to tell a user out of scope from one removed from Lucca', () => {
    test('asks by id, in lists that fit the filter, for places only, and leaves out ids Lucca does not have', async () => {
      const users = generateLuccaUsers({ size: SIZE, seed: 22, today: TODAY, startId: 1_000_000 });
      const { name, url } = newTenant({ users });
      // Seven-digit ids: about 125 fit an `id=` filter, so these 400 take four requests.
      const known = users.slice(500, 900).map((u) => u.id);
      const unknown = [5_000_001, 5_000_002];
      const found = await client(url).locateUsers([...known, ...unknown, known[0]!]);

      assert.deepEqual(
        [...found.keys()].sort((a, b) => a - b),
        known,
      );
      for (const user of users.slice(500, 900)) {
        const place = found.get(user.id)!;
        assert.deepEqual([place.legalEntity?.id, place.department?.id], [user.legalEntityId, user.departmentId]);
      }
      const requests = fake.requests(name);
      assert.equal(
        requests.length,
        Math.ceil((known.length + unknown.length) / Math.floor(MAX_SCOPE_FILTER_CHARS / 8)),
      );
      for (const { query } of requests) {
        assert.equal(query.fields, 'id,legalEntity[id,name],department[id,name]', 'places only, nothing personal');
        assert.equal(query.formerEmployees, 'true', 'leavers are still in Lucca');
        assert.ok(`id=${query.id}`.length <= MAX_SCOPE_FILTER_CHARS, `a filter of ${query.id!.length} characters`);
      }
    });

    test('ids that would take more than MAX_LOCATE_REQUESTS requests are found by one read of the places of the whole tenant', async () => {
      // Ten times the ids MAX_LOCATE_REQUESTS lookups hold: the read of 13,000 places costs 14 requests instead of 100.
      const users = generateLuccaUsers({ size: 13_000, seed: 23, today: TODAY, startId: 1_000_000 });
      const { name, url } = newTenant({ users });
      const perRequest = Math.floor(MAX_SCOPE_FILTER_CHARS / 8);
      const ids = users.slice(0, 10 * MAX_LOCATE_REQUESTS * perRequest).map((u) => u.id);
      let progressed = 0;
      const found = await client(url).locateUsers([...ids, 9_999_999], undefined, (n) => (progressed = n));

      assert.equal(found.size, ids.length);
      assert.equal(found.has(9_999_999), false);
      const requests = fake.requests(name);
      assert.equal(requests.length, Math.ceil(13_000 / (LUCCA_PAGE_SIZE - 1)));
      assert.equal(progressed, requests.length, 'each request is reported, for the heartbeat');
      assert.ok(requests.every((r) => r.query.id === undefined));
    });
  });

  describe('readOrganisation, for choosing a scope', () => {
    test('lists the legal entities and departments with their names and user counts, in one paged read of three fields', async () => {
      const { name, url } = newTenant({ users: company });
      const organisation = await client(url).readOrganisation();

      assert.deepEqual(
        fake.requests(name).map((r) => r.query),
        ['0,1000', '999,1000', '1998,1000'].map((paging) => ({
          formerEmployees: 'true',
          fields: 'id,legalEntity[id,name],department[id,name]',
          orderBy: 'id,asc',
          paging,
        })),
      );
      const count = (key: 'legalEntityId' | 'departmentId', id: number) => idsOf(company, (u) => u[key] === id).length;
      assert.deepEqual(
        organisation.legalEntities,
        FAKE_ORGANISATION.legalEntities.map((u) => ({ ...u, userCount: count('legalEntityId', u.id) })),
      );
      assert.deepEqual(
        organisation.departments,
        FAKE_ORGANISATION.departments.map((u) => ({ ...u, userCount: count('departmentId', u.id) })),
      );
      assert.equal(organisation.userCount, SIZE);
      assert.equal(organisation.moved, false);
      assert.equal(
        organisation.pairs.reduce((sum, p) => sum + p.userCount, 0),
        SIZE,
      );
      assert.equal(
        organisation.pairs.find((p) => p.legalEntityId === 2 && p.departmentId === 13)?.userCount,
        idsOf(company, (u) => u.legalEntityId === 2 && u.departmentId === 13).length,
      );
    });

    test('its pairs count any scope, and the overlap of two, without another read', async () => {
      const { url } = newTenant({ users: company });
      const organisation = await client(url).readOrganisation();
      assert.equal(countUsersInScopes(organisation, [SCOPE]), idsOf(company, inScope).length);
      assert.equal(countUsersInScopes(organisation, [{}]), SIZE);
      const byEntity = { legalEntityIds: [1] };
      const byDepartment = { departmentIds: [12, 13] };
      assert.equal(
        countUsersInScopes(organisation, [byEntity, byDepartment]),
        idsOf(company, (u) => u.legalEntityId === 1 && [12, 13].includes(u.departmentId ?? 0)).length,
      );
      assert.equal(countUsersInScopes(organisation, [{ legalEntityIds: [1] }, { legalEntityIds: [2] }]), 0);
    });

    test('a user read twice, because someone joined under the read, is counted once', async () => {
      const users = generateLuccaUsers({ size: SIZE, seed: 21, today: TODAY, startId: 1_000 });
      const { name, url } = newTenant({ users });
      // Joining before the second page pushes everyone one place on: that page repeats a user.
      const joiner = { ...(users[0] as LuccaRawUser), id: 5 };
      fake.onNextRequest(name, (all) => [joiner, ...all], { whenOffset: 999 });
      const organisation = await client(url).readOrganisation();
      assert.equal(organisation.userCount, SIZE);
      assert.equal(
        organisation.legalEntities.reduce((sum, u) => sum + u.userCount, 0),
        SIZE,
      );
    });

    test('a user without a legal entity or department is counted under null, and an entity renamed mid-read shows its new name', async () => {
      const users = company.map((u) => (u.id === 7 ? { ...u, legalEntityId: null, legalEntity: null } : u));
      const { name, url } = newTenant({ users });
      const renamed = { id: 2, name: 'Établissements Côte-Sud (nouveau nom)' };
      fake.onNextRequest(name, (all) => renameOrgUnit(all, 'legalEntity', renamed), { whenOffset: 999 });
      const organisation = await client(url).readOrganisation();
      assert.equal(organisation.legalEntities.find((u) => u.id === 2)?.name, renamed.name);
      assert.equal(organisation.pairs.find((p) => p.legalEntityId === null)?.userCount, 1);
      assert.equal(
        organisation.legalEntities.reduce((sum, u) => sum + u.userCount, 0),
        SIZE - 1,
      );
    });
  });
});

async function startForeignHost(
  routes: Record<string, (res: ServerResponse, req: IncomingMessage) => void>,
): Promise<{ url: string; requests: ForeignRequest[]; server: Server }> {
  const requests: ForeignRequest[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push({ path, authorization: req.headers.authorization });
    const route = Object.entries(routes).find(([prefix]) => path.startsWith(prefix));
    if (route) route[1](res, req);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, server };
}

const json = (body: unknown) => (res: ServerResponse) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));

describe('LuccaClient against hosts that are not Lucca', () => {
  let foreign: Awaited<ReturnType<typeof startForeignHost>>;

  before(async () => {
    foreign = await startForeignHost({
      '/plain-json/': json({ status: 'ok', users: [] }),
      '/html/': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Login</title>'),
      '/untyped-html/': (res) => res.writeHead(200).end('<html><body>Sign in</body></html>'),
      '/redirect/': (res) => res.writeHead(302, { location: '/elsewhere/api/v3/users' }).end(),
      '/elsewhere/': json({ data: { items: [] } }),
      '/no-paging/': json({ data: { items: [{ id: 1 }, { id: 2 }, { id: 3 }] } }),
      // A key whose role does not see the organisation: the fields are absent, not null.
      '/no-organisation/': json({ data: { items: [{ ...LEGACY_USER, modifiedAt: '2015-09-07T10:20:06.583' }] } }),
      '/legacy-shape/': json({
        data: {
          items: [{ ...LEGACY_USER, modifiedOn: '2015-09-07T10:20:06.583', extra: { nested: true } }],
          count: 1,
        },
        somethingElse: 42,
      }),
    });
  });

  after(async () => {
    await new Promise((resolve) => foreign.server.close(resolve));
  });

  test('JSON without data.items is a LuccaNotLuccaError', async () => {
    const error = await rejection(client(`${foreign.url}/plain-json`).fetchUsersPage(0), LuccaNotLuccaError);
    assert.equal(error.code, 'lucca-not-lucca');
    assert.equal(error.retryable, false);
  });

  test('an HTML page is a LuccaNotLuccaError, with or without a content type', async () => {
    await rejection(client(`${foreign.url}/html`).fetchUsersPage(0), LuccaNotLuccaError);
    await rejection(client(`${foreign.url}/untyped-html`).fetchUsersPage(0), LuccaNotLuccaError);
  });

  test('a redirect is not followed, so the key never reaches another address', async () => {
    const before = foreign.requests.length;
    await rejection(client(`${foreign.url}/redirect`).fetchUsersPage(0), LuccaNotLuccaError);
    assert.deepEqual(
      foreign.requests.slice(before).map((r) => r.path),
      ['/redirect/api/v3/users'],
    );
  });

  test('a host that ignores paging is refused rather than read forever', async () => {
    await rejection(client(`${foreign.url}/no-paging`).fetchUsersPage(0, 2), LuccaNotLuccaError);
  });

  test('a missing header, extra fields and modifiedOn are tolerated and passed on raw', async () => {
    const page = await client(`${foreign.url}/legacy-shape`).fetchUsersPage(0);
    assert.equal(page.principal, null);
    assert.equal(page.isLast, true);
    assert.deepEqual(page.items, [{ ...LEGACY_USER, modifiedOn: '2015-09-07T10:20:06.583', extra: { nested: true } }]);
  });

  test('organisation fields left out of every user are a read error, not everyone out of the scope', async () => {
    const lucca = client(`${foreign.url}/no-organisation`);
    for (const read of [
      lucca.fetchUsersPage(0, 10, undefined, { scope: { legalEntityIds: [1] } }),
      lucca.fetchUsersPage(0, 10, undefined, { organisation: true }),
      lucca.readOrganisation(),
    ]) {
      const error = await rejection(read, LuccaMissingFieldError);
      assert.match(error.message, /without legalEntity, department for every user/);
    }
    const plain = await lucca.fetchUsersPage(0);
    assert.equal(plain.items.length, 1, 'a read without the organisation does not need it');
  });

  test('a refused connection is a retryable LuccaUnreachableError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));

    const error = await rejection(client(`http://127.0.0.1:${port}`).fetchUsersPage(0), LuccaUnreachableError);
    assert.equal(error.code, 'lucca-unreachable');
    assert.equal(error.retryable, true);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  test('a port that fetch refuses to dial (6000) is a LuccaUnreachableError, not a mid-request failure', async () => {
    const error = await rejection(client('http://127.0.0.1:6000').fetchUsersPage(0), LuccaUnreachableError);
    assert.equal(error.code, 'lucca-unreachable');
    assert.match(error.message, /127\.0\.0\.1:6000/);
  });
});
