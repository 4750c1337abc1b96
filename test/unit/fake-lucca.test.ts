import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  describeSpecialCases,
  generateLuccaUsers,
  startFakeLucca,
  type FakeLucca,
  type LuccaRawUser,
  type TenantOptions,
} from '../../dev-tools/fake-lucca/index';

const TODAY = '2025-11-22';
const KEY = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
const PRINCIPAL = 'HappyPal key';

interface Envelope {
  header: { generated: string; principal: string };
  data: { items?: Record<string, unknown>[]; count?: number } & Record<string, unknown>;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

let fake: FakeLucca;
let tenantCount = 0;

before(async () => {
  fake = await startFakeLucca();
});

after(async () => {
  await fake.close();
});

function person(id: number, overrides: Partial<LuccaRawUser> = {}): LuccaRawUser {
  return {
    id,
    firstName: `First${id}`,
    lastName: `Last${id}`,
    mail: `user${id}@acme.example`,
    birthDate: '1990-01-01T00:00:00',
    dtContractStart: '2020-01-01T00:00:00',
    dtContractEnd: null,
    modifiedAt: '2025-01-01T10:00:00.000',
    ...overrides,
  };
}

function people(count: number): LuccaRawUser[] {
  return Array.from({ length: count }, (_, i) => person(i + 1));
}

/** Six users around TODAY: active, active without mail/birth date, former, upcoming, leaving, ending today. */
const COMPANY: LuccaRawUser[] = [
  person(1, {
    firstName: 'Chloé',
    lastName: 'Arrou-Vignod',
    mail: 'chloe.arrou-vignod@acme.example',
    dtContractStart: '2019-03-01T00:00:00',
  }),
  person(2, { firstName: 'Éloïse', lastName: "N'Diaye", mail: '', birthDate: null }),
  person(3, { firstName: 'Hélène', lastName: 'Girard', mail: null, dtContractEnd: '2025-06-30T00:00:00' }),
  person(4, { firstName: 'Noël', lastName: 'Bézier', dtContractStart: '2026-01-05T00:00:00' }),
  person(5, {
    firstName: 'Gaëlle',
    lastName: 'Le Gall',
    dtContractEnd: '2025-12-31T00:00:00',
    modifiedAt: '2025-11-20T08:00:00.000',
  }),
  person(6, { firstName: 'Loïc', lastName: 'Fontaine', dtContractEnd: `${TODAY}T00:00:00` }),
];

/** A fresh tenant per test keeps rate-limit buckets, faults and logs apart. No rate limit unless asked. */
function newTenant(opts: TenantOptions = {}): string {
  const name = `tenant-${++tenantCount}`;
  fake.addTenant(name, {
    users: COMPANY,
    apiKeys: [{ key: KEY, principal: PRINCIPAL }],
    today: TODAY,
    rateLimit: false,
    ...opts,
  });
  return name;
}

async function call(
  tenant: string,
  pathAndQuery: string,
  opts: { key?: string | null; scheme?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.key !== null) headers.authorization = `${opts.scheme ?? 'lucca'} application=${opts.key ?? KEY}`;
  const res = await fetch(`${fake.tenantUrl(tenant)}${pathAndQuery}`, { headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

function envelope(answer: Answer): Envelope {
  assert.equal(answer.status, 200, answer.text);
  return answer.body as Envelope;
}

function items(answer: Answer): Record<string, unknown>[] {
  const list = envelope(answer).data.items;
  assert.ok(Array.isArray(list), 'data.items is an array');
  return list;
}

function ids(answer: Answer): number[] {
  return items(answer).map((u) => u.id as number);
}

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${fake.url}/__fake${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** fetch cannot set Host, so Host routing goes through node:http. */
function getWithHost(host: string, path: string): Promise<{ status: number; body: unknown }> {
  const { hostname, port } = new URL(fake.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname, port, path, headers: { host, authorization: `lucca application=${KEY}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const ALL_FIELDS = 'id,firstName,lastName,mail,birthDate,dtContractStart,dtContractEnd,modifiedAt';

describe('envelope and formats', () => {
  test('a list answer puts the users under data.items, with a header giving the generation time and the key principal', async () => {
    const tenant = newTenant();
    const body = envelope(await call(tenant, `/api/v3/users?fields=${ALL_FIELDS}&formerEmployees=true`));
    assert.match(body.header.generated, new RegExp(`^${TODAY}T\\d{2}:\\d{2}:\\d{2}$`));
    assert.equal(body.header.principal, PRINCIPAL);
    assert.deepEqual(body.data.items?.[0], {
      id: 1,
      firstName: 'Chloé',
      lastName: 'Arrou-Vignod',
      mail: 'chloe.arrou-vignod@acme.example',
      birthDate: '1990-01-01T00:00:00',
      dtContractStart: '2019-03-01T00:00:00',
      dtContractEnd: null,
      modifiedAt: '2025-01-01T10:00:00.000',
    });
    assert.equal(body.data.items?.[1]?.mail, '');
    assert.equal(body.data.items?.[1]?.birthDate, null);
    assert.equal(body.data.items?.[2]?.mail, null);
  });

  test('without fields only id, name and url come back', async () => {
    const tenant = newTenant();
    const [first] = items(await call(tenant, '/api/v3/users'));
    assert.deepEqual(first, {
      id: 1,
      name: 'Chloé Arrou-Vignod',
      url: `${fake.tenantUrl(tenant)}/api/v3/users/1`,
    });
  });

  test('field names match case-insensitively, come back camelCase, and unknown ones are ignored', async () => {
    const tenant = newTenant();
    const [first] = items(await call(tenant, '/api/v3/users?fields=ID,FIRSTNAME,dtcontractstart,shoeSize'));
    assert.deepEqual(first, { id: 1, firstName: 'Chloé', dtContractStart: '2019-03-01T00:00:00' });
  });

  test('collection.count gives the number of matching users, not the size of the page', async () => {
    const tenant = newTenant();
    const body = envelope(await call(tenant, '/api/v3/users?fields=id,collection.count&paging=0,2'));
    assert.equal(body.data.count, 5);
    assert.equal(body.data.items?.length, 2);
  });

  test('one user comes back by id with the same fields handling, and an unknown id is a 404', async () => {
    const tenant = newTenant();
    const one = envelope(await call(tenant, '/api/v3/users/5?fields=id,LASTNAME'));
    assert.deepEqual(one.data, { id: 5, lastName: 'Le Gall' });
    assert.equal(one.header.principal, PRINCIPAL);
    const missing = await call(tenant, '/api/v3/users/999');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { Status: number }).Status, 404);
  });
});

describe('paging', () => {
  test('without paging the first 1000 users come back', async () => {
    const tenant = newTenant({ users: people(1001) });
    const list = ids(await call(tenant, '/api/v3/users?fields=id'));
    assert.equal(list.length, 1000);
    assert.equal(list.at(-1), 1000);
  });

  test('a dataset that is an exact multiple of the page size ends with an empty page', async () => {
    const tenant = newTenant({ users: people(6) });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=0,3')), [1, 2, 3]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=3,3')), [4, 5, 6]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=6,3')), []);
  });

  test('the last page of an uneven dataset is short, and an offset past the end gives an empty page', async () => {
    const tenant = newTenant({ users: people(7) });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=6,3')), [7]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=100,3')), []);
  });

  test('a page of 1000 is accepted, but a limit of 0 or 1001, a negative offset or malformed paging is a 400', async () => {
    const tenant = newTenant();
    assert.equal((await call(tenant, '/api/v3/users?paging=0,1000')).status, 200);
    for (const paging of ['0,0', '0,1001', '-1,10', '10', 'a,b']) {
      const answer = await call(tenant, `/api/v3/users?paging=${paging}`);
      assert.equal(answer.status, 400, `paging=${paging}`);
      assert.equal((answer.body as { Status: number }).Status, 400);
      assert.equal(typeof (answer.body as { Message: unknown }).Message, 'string');
    }
  });
});

describe('filters and order', () => {
  test('former employees are left out by default and included with formerEmployees=true', async () => {
    const tenant = newTenant();
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id')), [1, 2, 4, 5, 6]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&formerEmployees=false')), [1, 2, 4, 5, 6]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&formerEmployees=true')), [1, 2, 3, 4, 5, 6]);
  });

  test('an explicit dtContractEnd filter includes former employees without formerEmployees', async () => {
    const tenant = newTenant();
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&dtContractEnd=until,2025-11-21')), [3]);
  });

  const cases: [string, number[]][] = [
    ['id=1,3,5', [1, 3, 5]],
    ['mail=CHLOE.ARROU-VIGNOD@acme.example', [1]],
    ['mail=like,ACME', [1, 4, 5, 6]],
    ['dtContractStart=since,2025-01-01', [4]],
    ['dtContractStart=until,2019-12-31', [1]],
    ['dtContractStart=between,2019-01-01,2019-12-31', [1]],
    ['dtContractEnd=null', [1, 2, 4]],
    ['dtContractEnd=notequal,null', [3, 5, 6]],
    ['dtContractEnd=since,2025-11-22', [5, 6]],
    ['dtContractEnd=null,since,2025-12-01', [1, 2, 4, 5]],
    ['modifiedAt=since,2025-11-01T00:00:00', [5]],
  ];
  for (const [filter, expected] of cases) {
    test(`the filter ${filter} selects users ${expected.join(', ')}`, async () => {
      const tenant = newTenant();
      assert.deepEqual(ids(await call(tenant, `/api/v3/users?fields=id&formerEmployees=true&${filter}`)), expected);
    });
  }

  test('an unknown filter operator or a value that is not a date is a 400', async () => {
    const tenant = newTenant();
    for (const filter of [
      'dtContractStart=after,2020-01-01',
      'dtContractEnd=since,yesterday',
      'modifiedAt=before,2025-01-01T00:00:00',
      'mail=since,a@b.c',
      'id=one',
    ]) {
      assert.equal((await call(tenant, `/api/v3/users?${filter}`)).status, 400, filter);
    }
  });

  test('orderBy sorts by the given field and direction', async () => {
    const tenant = newTenant();
    const list = items(
      await call(tenant, '/api/v3/users?fields=id,lastName&formerEmployees=true&orderBy=lastName,desc'),
    );
    assert.deepEqual(
      list.map((u) => u.lastName),
      ["N'Diaye", 'Le Gall', 'Girard', 'Fontaine', 'Bézier', 'Arrou-Vignod'],
    );
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&orderBy=id,desc')), [6, 5, 4, 2, 1]);
  });

  test('an unknown orderBy field or direction is a 400', async () => {
    const tenant = newTenant();
    assert.equal((await call(tenant, '/api/v3/users?orderBy=shoeSize,asc')).status, 400);
    assert.equal((await call(tenant, '/api/v3/users?orderBy=id,up')).status, 400);
    assert.equal((await call(tenant, '/api/v3/users?orderBy=id')).status, 400);
  });

  test("moving the tenant's today turns a leaver into a former employee", async () => {
    const tenant = newTenant();
    assert.ok(ids(await call(tenant, '/api/v3/users?fields=id')).includes(5));
    fake.setToday(tenant, '2026-01-01');
    assert.ok(!ids(await call(tenant, '/api/v3/users?fields=id')).includes(5));
    assert.match(envelope(await call(tenant, '/api/v3/users')).header.generated, /^2026-01-01T/);
  });

  test("a rehired user shows the contract that applies on the tenant's today", async () => {
    const today = '2025-11-22';
    const users = generateLuccaUsers({ size: 50, seed: 7, today });
    const [rehiredId] = describeSpecialCases({ size: 50 }).rehired;
    const tenant = newTenant({ users, today });
    const path = `/api/v3/users/${rehiredId}?fields=dtContractStart,dtContractEnd`;
    const now = envelope(await call(tenant, path)).data;
    assert.equal(now.dtContractEnd, null);
    assert.ok(String(now.dtContractStart) > '2025-06-01', 'the new contract started recently');
    fake.setToday(tenant, '2023-01-01');
    const then = envelope(await call(tenant, path)).data;
    assert.ok(String(then.dtContractStart) < '2020-01-01', 'back then the old contract applied');
    assert.notEqual(then.dtContractEnd, null);
  });
});

describe('API key permissions', () => {
  test('a key without seeFormer never sees former employees, even with formerEmployees=true', async () => {
    const tenant = newTenant({ apiKeys: [{ key: KEY, seeFormer: false }] });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&formerEmployees=true')), [1, 2, 4, 5, 6]);
    assert.equal((await call(tenant, '/api/v3/users/3')).status, 404);
  });

  test('a key without seeFuture does not see upcoming hires', async () => {
    const tenant = newTenant({ apiKeys: [{ key: KEY, seeFuture: false }] });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&formerEmployees=true')), [1, 2, 3, 5, 6]);
    assert.equal((await call(tenant, '/api/v3/users/4')).status, 404);
  });

  test('a key without seeBirthDates gets null birth dates', async () => {
    const tenant = newTenant({ apiKeys: [{ key: KEY, seeBirthDates: false }] });
    const list = items(await call(tenant, '/api/v3/users?fields=id,birthDate'));
    assert.ok(list.length > 0);
    assert.ok(list.every((u) => u.birthDate === null));
    const full = newTenant();
    assert.equal(items(await call(full, '/api/v3/users?fields=id,birthDate'))[0]?.birthDate, '1990-01-01T00:00:00');
  });
});

describe('authentication', () => {
  test('both "lucca" and "Lucca" are accepted as the scheme word', async () => {
    const tenant = newTenant();
    assert.equal((await call(tenant, '/api/v3/users', { scheme: 'lucca' })).status, 200);
    assert.equal((await call(tenant, '/api/v3/users', { scheme: 'Lucca' })).status, 200);
  });

  test('a missing, unknown or revoked key is a 401 with a Lucca error body', async () => {
    const revoked = 'AAAAAAAA-0000-0000-0000-000000000000';
    const tenant = newTenant({ apiKeys: [{ key: KEY }, { key: revoked, revoked: true }] });
    for (const key of [null, 'not-a-key', revoked]) {
      const answer = await call(tenant, '/api/v3/users', { key });
      assert.equal(answer.status, 401, `key ${key}`);
      assert.equal((answer.body as { Status: number }).Status, 401);
      assert.equal(typeof (answer.body as { Message: unknown }).Message, 'string');
    }
    assert.equal((await call(tenant, '/api/v3/users', { scheme: 'Bearer' })).status, 401);
  });

  test('a valid key without the users permission is a 403', async () => {
    const tenant = newTenant({ apiKeys: [{ key: KEY, forbidden: true }] });
    const answer = await call(tenant, '/api/v3/users');
    assert.equal(answer.status, 403);
    assert.deepEqual(Object.keys(answer.body as object), ['Status', 'Message']);
  });
});

describe('rate limit', () => {
  test('the 51st request within a minute is a 429 with Retry-After in seconds', async () => {
    const tenant = `rate-${++tenantCount}`;
    fake.addTenant(tenant, { users: COMPANY, apiKeys: [{ key: KEY }], today: TODAY });
    for (let i = 0; i < 50; i++) assert.equal((await call(tenant, '/api/v3/users')).status, 200, `request ${i + 1}`);
    const refused = await call(tenant, '/api/v3/users');
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 55 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  });

  test('refused requests take no slot, so a client waiting as told gets through', async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const tenant = newTenant({ rateLimit: { limit: 2, windowMs: 400 } });
    const started = Date.now();
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    // Refused late in the window: had they taken slots, they would still fill the next window.
    await sleep(200);
    const refused = await call(tenant, '/api/v3/users');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1', 'at least one second, never zero');
    for (let i = 0; i < 3; i++) assert.equal((await call(tenant, '/api/v3/users')).status, 429);
    await sleep(started + 420 - Date.now());
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });

  test('the quota belongs to the tenant: every key shares it, other tenants do not', async () => {
    const other = 'BBBBBBBB-0000-0000-0000-000000000000';
    const tenant = newTenant({ apiKeys: [{ key: KEY }, { key: other }], rateLimit: { limit: 2, windowMs: 60_000 } });
    const neighbour = newTenant({ rateLimit: { limit: 2, windowMs: 60_000 } });
    assert.equal((await call(tenant, '/api/v3/users', { key: KEY })).status, 200);
    assert.equal((await call(tenant, '/api/v3/users', { key: other })).status, 200);
    assert.equal((await call(tenant, '/api/v3/users', { key: other })).status, 429);
    assert.equal((await call(neighbour, '/api/v3/users')).status, 200);
  });

  test('turning the rate limit off lets every request through', async () => {
    const tenant = newTenant({ rateLimit: { limit: 1, windowMs: 60_000 } });
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users')).status, 429);
    fake.setRateLimit(tenant, false);
    for (let i = 0; i < 3; i++) assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });
});

describe('faults', () => {
  test('a 429 fault carries its Retry-After once, then requests are answered normally', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'status', status: 429, retryAfter: '7' });
    const faulted = await call(tenant, '/api/v3/users');
    assert.equal(faulted.status, 429);
    assert.equal(faulted.headers.get('retry-after'), '7');
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });

  test('500 and 503 faults hit only their tenant and offset, as many times as asked', async () => {
    const tenant = newTenant({ users: people(6) });
    const bystander = newTenant({ users: people(6) });
    fake.addFault({ tenant, kind: 'status', status: 503, whenOffset: 3, times: 2 });
    fake.addFault({ tenant, kind: 'status', status: 500, whenOffset: 0 });
    assert.equal((await call(bystander, '/api/v3/users?paging=3,3')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users?paging=3,3')).status, 503);
    assert.equal((await call(tenant, '/api/v3/users?paging=3,3')).status, 503);
    assert.equal((await call(tenant, '/api/v3/users?paging=3,3')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users?paging=0,3')).status, 500);
    assert.equal((await call(tenant, '/api/v3/users?paging=0,3')).status, 200);
  });

  test('a 408 fault answers only after its delay', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'status', status: 408, delayMs: 150 });
    const started = Date.now();
    const answer = await call(tenant, '/api/v3/users');
    assert.equal(answer.status, 408);
    assert.ok(Date.now() - started >= 140, `answered after ${Date.now() - started} ms`);
  });

  test('a reset fault closes the connection without any response', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'reset' });
    await assert.rejects(call(tenant, '/api/v3/users'), TypeError);
    assert.deepEqual(
      fake.requests(tenant).map((r) => r.status),
      [0],
    );
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });

  test('a truncate fault sends a 200 whose complete body is half a JSON document', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'truncate' });
    const answer = await call(tenant, `/api/v3/users?fields=${ALL_FIELDS}`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, undefined, 'the body does not parse');
    assert.ok(answer.text.startsWith('{"header":'), answer.text);
    assert.equal(Number(answer.headers.get('content-length')), Buffer.byteLength(answer.text));
    const whole = await call(tenant, `/api/v3/users?fields=${ALL_FIELDS}`);
    assert.ok(Math.abs(whole.text.length / 2 - answer.text.length) <= 1);
  });

  test('a slow fault answers normally after its delay', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'slow', delayMs: 150 });
    const started = Date.now();
    assert.deepEqual(ids(await call(tenant, '/api/v3/users')), [1, 2, 4, 5, 6]);
    assert.ok(Date.now() - started >= 140);
  });

  test('a held request waits until released, then gets what the fault rules say; other requests and the next one at that offset go through', async () => {
    const tenant = newTenant({ users: people(6) });
    fake.addFault({ tenant, kind: 'status', status: 503, whenOffset: 3 });
    const hold = fake.holdRequest({ tenant, whenOffset: 3 });
    assert.equal(hold.holding, false, 'armed, nothing held yet');

    const held = call(tenant, '/api/v3/users?paging=3,3');
    const deadline = Date.now() + 5_000;
    while (!hold.holding && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(hold.holding, 'the request at offset 3 is held');
    assert.equal((await call(tenant, '/api/v3/users?paging=0,3')).status, 200, 'another page goes through');
    assert.deepEqual(
      fake.requests(tenant).map((r) => [r.query.paging, r.status]),
      [
        ['3,3', 0],
        ['0,3', 200],
      ],
    );

    hold.release();
    assert.equal((await held).status, 503, 'answered once released, by the fault rule');
    assert.ok(hold.heldAt! <= hold.endedAt!);
    assert.equal((await call(tenant, '/api/v3/users?paging=3,3')).status, 200, 'one request held, one fault spent');
  });

  test(
    'a hold released before any request came stops nothing, and clearFaults lets a held request go',
    { timeout: 10_000 },
    async () => {
      const tenant = newTenant({ users: people(6) });
      fake.holdRequest({ tenant }).release();
      assert.equal((await call(tenant, '/api/v3/users')).status, 200);
      const hold = fake.holdRequest({ tenant });
      const held = call(tenant, '/api/v3/users');
      const deadline = Date.now() + 5_000;
      while (!hold.holding && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(hold.holding, 'the request is held');
      fake.clearFaults();
      assert.equal((await held).status, 200);
      assert.equal(hold.holding, false);
    },
  );

  test('a fault armed for Infinity times keeps hitting until faults are cleared', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'status', status: 500, times: Infinity });
    for (let i = 0; i < 3; i++) assert.equal((await call(tenant, '/api/v3/users')).status, 500);
    fake.clearFaults();
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });

  test('a fault only hits paths under its prefix', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'status', status: 500, path: '/api/v3/users/' });
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users/1')).status, 500);
  });
});

describe('data changing during a read', () => {
  test('onNextRequest changes the dataset right before the chosen page is read, once', async () => {
    const tenant = newTenant({ users: people(6) });
    fake.onNextRequest(tenant, (users) => users.filter((u) => u.id !== 1), { whenOffset: 3 });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=0,3')), [1, 2, 3]);
    // User 1 left between the pages: user 4 slid onto the first page and offset paging misses it.
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=3,3')), [5, 6]);
    fake.mutateUsers(tenant, (users) => [...users, person(7)]);
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=3,3')), [5, 6, 7]);
  });

  test('setUsers replaces the dataset and the caller keeps no handle on it', async () => {
    const tenant = newTenant();
    const users = people(2);
    fake.setUsers(tenant, users);
    (users[0] as LuccaRawUser).firstName = 'Changed';
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id')), [1, 2]);
    assert.equal(fake.getUsers(tenant)[0]?.firstName, 'First1');
  });
});

describe('Host routing', () => {
  test("a request whose Host is one of the tenant's hosts reaches that tenant at /api/v3/users", async () => {
    const tenant = newTenant({ hosts: ['acme.ilucca.net'] });
    for (const host of ['acme.ilucca.net', 'ACME.ilucca.net:443']) {
      const answer = await getWithHost(host, '/api/v3/users?paging=0,1');
      assert.equal(answer.status, 200, host);
      assert.deepEqual((answer.body as Envelope).data.items, [
        { id: 1, name: 'Chloé Arrou-Vignod', url: `http://${host}/api/v3/users/1` },
      ]);
    }
    assert.equal(fake.requests(tenant).length, 2);
    assert.equal((await getWithHost('globex.ilucca.net', '/api/v3/users')).status, 404);
  });
});

describe('HTTP controls under /__fake', () => {
  test('a tenant created, seeded and set up over HTTP is served like one set up in-process', async () => {
    const tenant = `http-${++tenantCount}`;
    assert.equal((await control('POST', `/tenants/${tenant}`, { apiKeys: [{ key: KEY }], today: TODAY })).status, 201);
    const generated = await control('POST', `/tenants/${tenant}/generate`, { size: 60, seed: 3 });
    assert.equal(generated.status, 200);
    assert.equal((generated.body as { userCount: number }).userCount, 60);
    const everyone = items(await call(tenant, `/api/v3/users?fields=${ALL_FIELDS}&formerEmployees=true`));
    assert.deepEqual(everyone, generateLuccaUsers({ size: 60, seed: 3, today: TODAY }).map(withoutHistory));

    await control('PUT', `/tenants/${tenant}/users`, [person(1), person(2)]);
    await control('PATCH', `/tenants/${tenant}/users`, { upsert: [person(3)], removeIds: [1] });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id')), [2, 3]);

    await control('PUT', `/tenants/${tenant}/today`, { today: '2030-01-01' });
    assert.match(envelope(await call(tenant, '/api/v3/users')).header.generated, /^2030-01-01T/);

    await control('PUT', `/tenants/${tenant}/rate-limit`, { limit: 1, windowMs: 60_000 });
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users')).status, 429);
    await control('PUT', `/tenants/${tenant}/rate-limit`, false);
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);

    await control('PUT', `/tenants/${tenant}/api-keys`, [{ key: KEY, revoked: true }]);
    assert.equal((await call(tenant, '/api/v3/users')).status, 401);
  });

  test('faults, page hooks and the request log are driven over HTTP', async () => {
    const tenant = newTenant({ users: people(4) });
    const armed = await control('POST', '/faults', { tenant, kind: 'status', status: 503, times: 'Infinity' });
    assert.equal(armed.status, 201);
    const { id } = armed.body as { id: string };
    assert.deepEqual(
      ((await control('GET', '/faults')).body as { id: string; times: unknown }[]).find((f) => f.id === id)?.times,
      'Infinity',
    );
    assert.equal((await call(tenant, '/api/v3/users')).status, 503);
    assert.equal((await control('DELETE', `/faults/${id}`)).status, 200);
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);

    await control('POST', `/tenants/${tenant}/on-next-request`, { whenOffset: 2, removeIds: [1] });
    assert.deepEqual(ids(await call(tenant, '/api/v3/users?fields=id&paging=2,2')), [4]);

    const log = (await control('GET', `/requests?tenant=${tenant}`)).body as { status: number }[];
    assert.deepEqual(
      log.map((r) => r.status),
      [503, 200, 200],
    );
    await control('DELETE', '/requests');
    assert.deepEqual((await control('GET', `/requests?tenant=${tenant}`)).body, []);
  });

  test('a malformed control body is a 400 and an unknown tenant a 404', async () => {
    assert.equal((await control('POST', '/faults', { kind: 'explode' })).status, 400);
    assert.equal((await control('PUT', '/tenants/nobody/today', { today: TODAY })).status, 404);
    const tenant = newTenant();
    assert.equal((await control('PUT', `/tenants/${tenant}/today`, { today: '22/11/2025' })).status, 400);
    assert.equal((await control('PUT', `/tenants/${tenant}/users`, [{ firstName: 'no id' }])).status, 400);
  });
});

describe('request log', () => {
  test('every request is logged with its tenant, path, query, authorization and status, faulted and refused ones too', async () => {
    const tenant = newTenant({ rateLimit: { limit: 2, windowMs: 60_000 } });
    fake.addFault({ tenant, kind: 'status', status: 500 });
    const before = Date.now();
    await call(tenant, '/api/v3/users?paging=0,10&fields=id');
    await call(tenant, '/api/v3/users/2', { scheme: 'Lucca' });
    await call(tenant, '/api/v3/users', { key: 'wrong' });
    await call(tenant, '/api/v3/users');
    const log = fake.requests(tenant);
    assert.deepEqual(
      log.map(({ tenant: t, method, path, query, authorization, status }) => ({
        t,
        method,
        path,
        query,
        authorization,
        status,
      })),
      [
        {
          t: tenant,
          method: 'GET',
          path: '/api/v3/users',
          query: { paging: '0,10', fields: 'id' },
          authorization: `lucca application=${KEY}`,
          status: 500,
        },
        {
          t: tenant,
          method: 'GET',
          path: '/api/v3/users/2',
          query: {},
          authorization: `Lucca application=${KEY}`,
          status: 200,
        },
        {
          t: tenant,
          method: 'GET',
          path: '/api/v3/users',
          query: {},
          authorization: 'lucca application=wrong',
          status: 401,
        },
        {
          t: tenant,
          method: 'GET',
          path: '/api/v3/users',
          query: {},
          authorization: `lucca application=${KEY}`,
          status: 429,
        },
      ],
    );
    assert.ok(log.every((r) => r.at >= before && r.at <= Date.now()));
    fake.clearRequests();
    assert.deepEqual(fake.requests(tenant), []);
  });
});

function withoutHistory(user: LuccaRawUser): LuccaRawUser {
  const { contractHistory: _history, ...rest } = user;
  return rest;
}

describe('generateLuccaUsers', () => {
  const date = (value: string | null): string | null => value?.slice(0, 10) ?? null;

  test('the same size, seed and today give the same users, and another seed gives others', () => {
    const a = generateLuccaUsers({ size: 300, seed: 42, today: TODAY });
    assert.deepEqual(generateLuccaUsers({ size: 300, seed: 42, today: TODAY }), a);
    assert.notDeepEqual(generateLuccaUsers({ size: 300, seed: 43, today: TODAY }), a);
    assert.deepEqual(generateLuccaUsers({ size: 500, seed: 42, today: TODAY }).slice(0, 300), a);
  });

  test('ids ascend from startId and emails are ASCII first.last at the domain', () => {
    const users = generateLuccaUsers({ size: 200, seed: 1, today: TODAY, startId: 1000, emailDomain: 'globex.fr' });
    assert.deepEqual(
      users.map((u) => u.id),
      Array.from({ length: 200 }, (_, i) => 1000 + i),
    );
    const bulk = users.slice(50);
    assert.ok(bulk.every((u) => /^[a-z0-9-]+\.[a-z0-9-]+@globex\.fr$/.test(u.mail ?? '')));
    assert.equal(new Set(bulk.map((u) => u.mail)).size, bulk.length, 'bulk emails are unique');
    assert.ok(users.every((u) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/.test(u.modifiedAt)));
    assert.ok(users.every((u) => u.dtContractStart === null || /T00:00:00$/.test(u.dtContractStart)));
  });

  test('a 50-user dataset holds every special case, at the ids describeSpecialCases gives', () => {
    const users = generateLuccaUsers({ size: 50, seed: 9, today: TODAY, startId: 100 });
    const cases = describeSpecialCases({ size: 50, startId: 100 });
    const byId = new Map(users.map((u) => [u.id, u]));
    const one = (ids: number[]): LuccaRawUser[] => {
      assert.ok(ids.length > 0);
      return ids.map((id) => byId.get(id) as LuccaRawUser);
    };
    const start = (u: LuccaRawUser) => date(u.dtContractStart) as string;
    const end = (u: LuccaRawUser) => date(u.dtContractEnd);

    for (const u of one(cases.active)) assert.ok(start(u) <= TODAY && end(u) === null);
    for (const u of one(cases['upcoming-hire'])) assert.ok(start(u) > TODAY);
    for (const u of one(cases['starts-today'])) assert.equal(start(u), TODAY);
    for (const u of one(cases['future-leaver'])) assert.ok((end(u) ?? '') > TODAY);
    for (const u of one(cases['leaves-today'])) assert.equal(end(u), TODAY);
    for (const u of one(cases.former)) assert.ok((end(u) ?? '9999') < TODAY);
    for (const u of one(cases.rehired)) {
      assert.ok(start(u) <= TODAY && end(u) === null);
      const history = u.contractHistory as { start: string; end: string | null }[];
      assert.ok(history.length >= 2 && (history[0]?.end ?? '9999') < start(u), 'an old contract ended before');
    }
    for (const u of one(cases['rehired-upcoming'])) assert.ok(start(u) > TODAY);
    for (const u of one(cases['null-email'])) assert.equal(u.mail, null);
    for (const u of one(cases['empty-email'])) assert.equal(u.mail, '');
    for (const u of one(cases['null-birth-date'])) assert.equal(u.birthDate, null);
    const homonyms = one(cases.homonym);
    assert.equal(new Set(homonyms.map((u) => `${u.firstName} ${u.lastName}`)).size, 1);
    assert.equal(new Set(homonyms.map((u) => u.mail)).size, homonyms.length);
    const sharing = one(cases['shared-email']);
    assert.equal(sharing.length, 2);
    assert.equal(new Set(sharing.map((u) => u.mail)).size, 1);
    for (const u of one(cases['messy-email'])) {
      assert.notEqual(u.mail, u.mail?.trim());
      assert.equal(u.mail, u.mail?.toUpperCase());
    }
    for (const u of one(cases['missing-last-name'])) assert.equal(u.lastName, null);
    for (const u of one(cases['accented-name'])) assert.match(`${u.firstName} ${u.lastName}`, /\P{ASCII}/u);
    for (const u of one(cases['compound-name'])) assert.match(`${u.firstName}|${u.lastName}`, /[- ]/);
    for (const u of one(cases['apostrophe-name'])) assert.match(u.lastName ?? '', /'/);

    const names = new Set(users.flatMap((u) => [u.firstName, u.lastName]));
    for (const name of ['Chloé', 'Éloïse', 'Arrou-Vignod', "N'Diaye", 'Lefèvre']) assert.ok(names.has(name), name);
  });

  test('below 50 users the dataset has only ordinary employees', () => {
    const users = generateLuccaUsers({ size: 49, seed: 9, today: TODAY });
    assert.equal(users.length, 49);
    assert.ok(users.every((u) => typeof u.mail === 'string' && u.mail.includes('@') && u.lastName !== null));
    assert.ok(Object.values(describeSpecialCases({ size: 49 })).every((list) => list.length === 0));
  });

  test('the bulk is about 85% active, 5% upcoming, 8% former and some future leavers', () => {
    const bulk = generateLuccaUsers({ size: 5050, seed: 11, today: TODAY }).slice(50);
    const share = (p: (u: LuccaRawUser) => boolean) => bulk.filter(p).length / bulk.length;
    const start = (u: LuccaRawUser) => date(u.dtContractStart) as string;
    const end = (u: LuccaRawUser) => date(u.dtContractEnd);
    const near = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) < 0.015, `${actual} not near ${expected}`);
    near(
      share((u) => start(u) <= TODAY && end(u) === null),
      0.85,
    );
    near(
      share((u) => start(u) > TODAY),
      0.05,
    );
    near(
      share((u) => end(u) !== null && (end(u) as string) < TODAY),
      0.08,
    );
    near(
      share((u) => end(u) !== null && (end(u) as string) > TODAY),
      0.02,
    );
    assert.ok(bulk.every((u) => end(u) === null || (end(u) as string) > start(u)));
  });
});
