import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  describeSpecialCases,
  FAKE_ORGANISATION,
  generateLuccaUsers,
  moveUsers,
  renameOrgUnit,
  startFakeLucca,
  type FakeLucca,
  type FakeOrgUnit,
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
const ORGANISATION_FIELDS = 'legalEntityId,legalEntity[id,name],departmentId,department[id,name]';
const HR_FIELDS = 'employeeNumber,jobTitle,manager,extendedData';

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
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    // Both slots were taken by now (a request counts when it arrives): a clock started before the
    // first request was sent ran ahead of the window when that request was slow to arrive.
    const started = Date.now();
    // Refused late in the window: had they taken slots, they would still fill the next window.
    await sleep(200);
    const refused = await call(tenant, '/api/v3/users');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1', 'at least one second, never zero');
    for (let i = 0; i < 3; i++) assert.equal((await call(tenant, '/api/v3/users')).status, 429);
    await sleep(started + 420 - Date.now());
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
  });

  test('a request counts against the limit when it arrives: a held one takes its slot then, not when it is answered', async () => {
    const tenant = newTenant({ rateLimit: { limit: 2, windowMs: 60_000 } });
    const holds = [fake.holdRequest({ tenant, whenOffset: 0 }), fake.holdRequest({ tenant, whenOffset: 10 })];
    const held = [call(tenant, '/api/v3/users?paging=0,10'), call(tenant, '/api/v3/users?paging=10,10')];
    const deadline = Date.now() + 5_000;
    while (!holds.every((h) => h.holding) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(
      holds.every((h) => h.holding),
      'the first two requests are held',
    );
    const over = await call(tenant, '/api/v3/users?paging=20,10');
    assert.equal(over.status, 429, 'the third arrival is over the limit, while the other two are unanswered');
    for (const hold of holds) hold.release();
    assert.deepEqual(
      (await Promise.all(held)).map((a) => a.status),
      [200, 200],
      'the held requests took their slots when they came',
    );
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

  test('a huge fault sends a valid page of exactly the bytes asked, chunked unless told to announce its length', async () => {
    const tenant = newTenant();
    for (const announceLength of [false, true]) {
      fake.addFault({ tenant, kind: 'huge', bytes: 300_000, announceLength });
      const answer = await call(tenant, '/api/v3/users');
      assert.equal(Buffer.byteLength(answer.text), 300_000);
      const [user] = items(answer);
      assert.deepEqual(Object.keys(user ?? {}).sort(), ALL_FIELDS.split(',').sort(), 'every field the sync asks for');
      assert.ok(String(user?.lastName).length > 299_000);
      assert.equal(answer.headers.get('content-length'), announceLength ? '300000' : null);
      assert.equal(answer.headers.get('transfer-encoding'), announceLength ? null : 'chunked');
      assert.equal(fake.requests(tenant).at(-1)?.bytesSent, 300_000);
    }
  });

  test('a huge fault of 500 MB is made as it is read: a client that hangs up stops it', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'huge' });
    const stop = new AbortController();
    const res = await fetch(`${fake.tenantUrl(tenant)}/api/v3/users`, { signal: stop.signal });
    const reader = res.body!.getReader();
    let read = 0;
    for (let chunk = await reader.read(); !chunk.done && read < 1_000_000; chunk = await reader.read()) {
      read += (chunk.value as Uint8Array).byteLength;
    }
    stop.abort();
    await reader.closed.catch(() => undefined);
    // The next request is served as usual: the fake holds nothing of the abandoned answer.
    assert.equal((await call(tenant, '/api/v3/users')).status, 200);
    const sent = fake.requests(tenant).at(-2)?.bytesSent ?? NaN;
    assert.ok(sent < 100_000_000, `the fake made ${sent} bytes of 500 MB for a client that read 1 MB`);
  });

  test('a long-field fault makes one field of the page’s users (or of the ones named) that many characters long', async () => {
    const tenant = newTenant();
    fake.addFault({ tenant, kind: 'long-field', field: 'mail', length: 2_540, userIds: [2, 4] });
    const page = items(await call(tenant, '/api/v3/users?fields=id,mail'));
    assert.deepEqual(
      page.map((u) => [u.id, String(u.mail).length]),
      [
        [1, 'chloe.arrou-vignod@acme.example'.length],
        [2, 2_540],
        [4, 2_540],
        [5, 'user5@acme.example'.length],
        [6, 'user6@acme.example'.length],
      ],
    );
    fake.addFault({ tenant, kind: 'long-field' });
    assert.ok(
      items(await call(tenant, '/api/v3/users?fields=id,lastName')).every((u) => u.lastName === 'x'.repeat(10_000)),
    );
    assert.deepEqual(
      items(await call(tenant, '/api/v3/users?fields=id,lastName')).map((u) => u.lastName),
      ['Arrou-Vignod', "N'Diaye", 'Bézier', 'Le Gall', 'Fontaine'],
      'once served, the dataset is as it was',
    );
  });

  test('a long-field fault on `department.name` lengthens the name inside the object, keeping its id', async () => {
    const tenant = newTenant({
      users: COMPANY.map((u, i) => ({ ...u, departmentId: 10 + i, department: { id: 10 + i, name: `Équipe ${i}` } })),
    });
    const asked = '/api/v3/users?fields=id,department[id,name]';
    const before = items(await call(tenant, asked)).map((u) => u.department as { id: number; name: string } | null);
    fake.addFault({ tenant, kind: 'long-field', field: 'department.name', length: 3_000, userIds: [2] });
    const page = items(await call(tenant, asked)).map((u) => u.department as { id: number; name: string } | null);
    assert.deepEqual(page[1], { id: before[1]!.id, name: 'x'.repeat(3_000) });
    assert.deepEqual([page[0], ...page.slice(2)], [before[0], ...before.slice(2)], 'the others as they were');
    assert.deepEqual(
      items(await call(tenant, asked)).map((u) => u.department),
      before,
      'the dataset untouched',
    );
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

describe('modification times', () => {
  const modifiedSince = (since: string) =>
    `/api/v3/users?fields=id,modifiedAt&formerEmployees=true&modifiedAt=since,${since}`;

  test('a user changed, added or moved gets a modification time now; one left as it was keeps its own', async () => {
    const tenant = newTenant({ users: people(5) });
    const before = new Date();
    // Whole seconds on the wire compare lexically with the stamps: one second back covers rounding.
    const since = new Date(before.getTime() - 1_000);
    const p = (n: number) => String(n).padStart(2, '0');
    const local = `${since.getFullYear()}-${p(since.getMonth() + 1)}-${p(since.getDate())}T${p(since.getHours())}:${p(since.getMinutes())}:${p(since.getSeconds())}`;
    assert.deepEqual(ids(await call(tenant, modifiedSince(local))), [], 'nobody was modified yet');
    assert.equal(
      (await control('PATCH', `/tenants/${tenant}/users`, { upsert: [person(2, { lastName: 'Renamed' }), person(6)] }))
        .status,
      200,
    );
    // An upsert that changes nothing is no modification.
    fake.mutateUsers(tenant, (users) => users.map((u) => (u.id === 3 ? { ...u } : u)));
    fake.onNextRequest(tenant, (users) => users.map((u) => (u.id === 4 ? { ...u, mail: 'new@acme.example' } : u)));
    assert.deepEqual(ids(await call(tenant, modifiedSince(local))), [2, 4, 6]);
    const stamped = fake.getUsers(tenant).find((u) => u.id === 2)!.modifiedAt;
    assert.match(stamped, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/);
    assert.equal(fake.getUsers(tenant).find((u) => u.id === 1)!.modifiedAt, '2025-01-01T10:00:00.000');
    // A change that sets the time itself keeps it.
    fake.mutateUsers(tenant, (users) =>
      users.map((u) => (u.id === 1 ? { ...u, firstName: 'Set', modifiedAt: '2025-02-02T00:00:00.000' } : u)),
    );
    assert.equal(fake.getUsers(tenant).find((u) => u.id === 1)!.modifiedAt, '2025-02-02T00:00:00.000');
    assert.deepEqual(ids(await call(tenant, modifiedSince('2025-02-01T00:00:00'))), [1, 2, 4, 6]);
  });

  test('a tenant set to ignore the modification filter answers everyone; one that says modifiedOn knows only that name', async () => {
    const users = people(4).map((u, i) => ({ ...u, modifiedAt: `2025-0${i + 1}-01T08:00:00.000` }));
    const tenant = newTenant({ users, modifiedFilter: 'ignore' });
    assert.deepEqual(ids(await call(tenant, modifiedSince('2025-03-01T00:00:00'))), [1, 2, 3, 4]);
    fake.setModifiedFilter(tenant, 'apply');
    assert.deepEqual(ids(await call(tenant, modifiedSince('2025-03-01T00:00:00'))), [3, 4]);

    const other = newTenant({ users, modifiedField: 'modifiedOn' });
    const [first] = items(await call(other, '/api/v3/users?fields=id,modifiedAt,modifiedOn&paging=0,1'));
    assert.deepEqual(first, { id: 1, modifiedOn: '2025-01-01T08:00:00.000' });
    assert.deepEqual(ids(await call(other, `/api/v3/users?fields=id&modifiedOn=since,2025-03-01T00:00:00`)), [3, 4]);
    // The name it does not know is an unknown parameter: ignored, everyone answered.
    assert.deepEqual(ids(await call(other, modifiedSince('2025-03-01T00:00:00'))), [1, 2, 3, 4]);
    const single = envelope(await call(other, '/api/v3/users/2?fields=id,modifiedOn')).data;
    assert.deepEqual(single, { id: 2, modifiedOn: '2025-02-01T08:00:00.000' });

    assert.equal(
      (await control('PUT', `/tenants/${tenant}/modified-filter`, { mode: 'ignore', field: 'modifiedOn' })).status,
      200,
    );
    const described = (await control('GET', `/tenants/${tenant}`)).body as {
      modifiedFilter: string;
      modifiedField: string;
    };
    assert.deepEqual([described.modifiedFilter, described.modifiedField], ['ignore', 'modifiedOn']);
    assert.equal((await control('PUT', `/tenants/${tenant}/modified-filter`, { mode: 'sometimes' })).status, 400);
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
    const everyone = items(
      await call(tenant, `/api/v3/users?fields=${ALL_FIELDS},${ORGANISATION_FIELDS},${HR_FIELDS}&formerEmployees=true`),
    );
    // A key sees every section of the HR file but the pay one unless it says otherwise.
    const served = generateLuccaUsers({ size: 60, seed: 3, today: TODAY }).map((user) => {
      const { e_salaryBand: _pay, ...visible } = user.extendedData as Record<string, unknown>;
      return { ...withoutHistory(user), extendedData: visible };
    });
    assert.deepEqual(everyone, served);

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

describe('organisation: legal entities and departments', () => {
  const SIZE = 2_500;
  const generated = () => generateLuccaUsers({ size: SIZE, seed: 5, today: TODAY });
  const idsWhere = (users: LuccaRawUser[], keep: (u: LuccaRawUser) => boolean): number[] =>
    users.filter(keep).map((u) => u.id);
  /** Every id a filtered read returns, page by page, leavers included. */
  async function readIds(tenant: string, filter: string): Promise<number[]> {
    const all: number[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = ids(
        await call(tenant, `/api/v3/users?fields=id&formerEmployees=true&${filter}&paging=${offset},1000`),
      );
      all.push(...page);
      if (page.length < 1000) return all;
    }
  }

  test('each generated user has a legal entity and a department of the tenant’s small set, ids and objects agreeing', () => {
    const users = generated();
    const entities = new Map(FAKE_ORGANISATION.legalEntities.map((u) => [u.id, u.name]));
    const departments = new Map(FAKE_ORGANISATION.departments.map((u) => [u.id, u.name]));
    for (const u of users) {
      assert.ok(entities.has(u.legalEntityId as number) && departments.has(u.departmentId as number), `user ${u.id}`);
      assert.equal(u.legalEntity?.id, u.legalEntityId, `user ${u.id}`);
      assert.equal(u.legalEntity?.name, entities.get(u.legalEntityId as number), `user ${u.id}`);
      assert.equal(u.department?.id, u.departmentId, `user ${u.id}`);
      assert.equal(u.department?.name, departments.get(u.departmentId as number), `user ${u.id}`);
    }
    assert.ok(entities.size <= 5 && departments.size <= 10, 'a small set');
    assert.ok(
      [...entities.values(), ...departments.values()].filter((n) => /\P{ASCII}/u.test(n)).length >= 5,
      'names with accents',
    );
    assert.deepEqual(generated(), users, 'deterministic');
    assert.notDeepEqual(
      generateLuccaUsers({ size: SIZE, seed: 6, today: TODAY }).map((u) => u.legalEntityId),
      users.map((u) => u.legalEntityId),
      'another seed places people elsewhere',
    );
  });

  test('every page of 1000 mixes every legal entity and department, and the first of each list is the largest', () => {
    const users = generated();
    for (let offset = 0; offset < SIZE; offset += 1000) {
      const page = users.slice(offset, offset + 1000);
      assert.equal(new Set(page.map((u) => u.legalEntityId)).size, FAKE_ORGANISATION.legalEntities.length);
      assert.equal(new Set(page.map((u) => u.departmentId)).size, FAKE_ORGANISATION.departments.length);
    }
    const counts = (key: 'legalEntityId' | 'departmentId', units: readonly { id: number }[]) =>
      units.map((unit) => users.filter((u) => u[key] === unit.id).length);
    for (const [key, units] of [
      ['legalEntityId', FAKE_ORGANISATION.legalEntities],
      ['departmentId', FAKE_ORGANISATION.departments],
    ] as const) {
      const sizes = counts(key, units);
      assert.deepEqual(
        sizes,
        [...sizes].sort((a, b) => b - a),
        `${key}: ${sizes.join(', ')}`,
      );
      assert.equal(new Set(sizes).size, sizes.length, `${key}: every unit has its own size (${sizes.join(', ')})`);
    }
  });

  test('the organisation a tenant is given changes where its people sit, nothing else of them', () => {
    const other = { legalEntities: [{ id: 7, name: 'Autre' }], departments: [{ id: 70, name: 'Été' }] };
    const strip = ({ legalEntityId: _a, legalEntity: _b, departmentId: _c, department: _d, ...rest }: LuccaRawUser) =>
      rest;
    const users = generateLuccaUsers({ size: 300, seed: 5, today: TODAY, organisation: other });
    assert.deepEqual(users.map(strip), generateLuccaUsers({ size: 300, seed: 5, today: TODAY }).map(strip));
    assert.ok(
      users.every((u) => u.legalEntityId === 7 && u.department?.name === 'Été'),
      'everyone in the given units',
    );
    assert.throws(
      () => generateLuccaUsers({ size: 1, seed: 1, today: TODAY, organisation: { ...other, departments: [] } }),
      RangeError,
    );
  });

  test('legalEntity[id,name] and department[id,name] come back as objects, accented names intact', async () => {
    const tenant = newTenant({ users: generated() });
    const [first] = items(
      await call(tenant, '/api/v3/users?fields=id,legalEntity[id,name],department[id,name]&paging=0,1'),
    );
    const stored = fake.getUsers(tenant)[0] as LuccaRawUser;
    assert.deepEqual(first, { id: 1, legalEntity: stored.legalEntity, department: stored.department });
    const served = items(
      await call(tenant, '/api/v3/users?fields=legalEntity[id,name],department[id,name]&formerEmployees=true'),
    );
    const names = new Set(
      served.flatMap((u) => [(u.legalEntity as FakeOrgUnit).name, (u.department as FakeOrgUnit).name]),
    );
    for (const name of ["Société Lumière d'Île-de-France", 'Équipe Produit', 'Ressources Humaines']) {
      assert.ok(names.has(name), name);
    }
  });

  test('the dotted form, the bare object (with its url), the flat ids and any letter case are answered too', async () => {
    const tenant = newTenant({ users: generated() });
    const stored = fake.getUsers(tenant)[0] as LuccaRawUser;
    const le = stored.legalEntity as FakeOrgUnit;
    const dep = stored.department as FakeOrgUnit;
    const first = async (fields: string) => items(await call(tenant, `/api/v3/users?fields=${fields}&paging=0,1`))[0];
    assert.deepEqual(await first('id,legalEntity.name,department.id'), {
      id: 1,
      legalEntity: { name: le.name },
      department: { id: dep.id },
    });
    assert.deepEqual(await first('legalEntity.id,legalEntity.name'), { legalEntity: le });
    assert.deepEqual(await first('legalEntity,department'), {
      legalEntity: { ...le, url: `${fake.tenantUrl(tenant)}/api/v3/legalentities/${le.id}` },
      department: { ...dep, url: `${fake.tenantUrl(tenant)}/api/v3/departments/${dep.id}` },
    });
    assert.deepEqual(await first('legalEntityId,departmentId'), { legalEntityId: le.id, departmentId: dep.id });
    assert.deepEqual(await first('LEGALENTITY[ID,Name,colour],Department[Url]'), {
      legalEntity: le,
      department: { url: `${fake.tenantUrl(tenant)}/api/v3/departments/${dep.id}` },
    });
    const one = envelope(await call(tenant, '/api/v3/users/1?fields=legalEntity[id,name]')).data;
    assert.deepEqual(one, { legalEntity: le });
  });

  test('a user planted without an organisation comes back with nulls, not without the fields', async () => {
    const tenant = newTenant();
    assert.deepEqual(items(await call(tenant, `/api/v3/users?fields=id,${ORGANISATION_FIELDS}&paging=0,1`))[0], {
      id: 1,
      legalEntityId: null,
      legalEntity: null,
      departmentId: null,
      department: null,
    });
  });

  test('legalEntityId=1,3 and departmentId=12,14 select by equality, a list being an OR and filters an AND', async () => {
    const users = generated();
    const tenant = newTenant({ users });
    const inEntities = (u: LuccaRawUser) => u.legalEntityId === 1 || u.legalEntityId === 3;
    const inDepartments = (u: LuccaRawUser) => u.departmentId === 12 || u.departmentId === 14;
    const cases: [string, (u: LuccaRawUser) => boolean][] = [
      ['legalEntityId=1,3', inEntities],
      ['departmentId=12,14', inDepartments],
      ['legalEntityId=2', (u) => u.legalEntityId === 2],
      ['legalEntityId=1,3&departmentId=12,14', (u) => inEntities(u) && inDepartments(u)],
      ['LegalEntityId=2&departmentId=16', (u) => u.legalEntityId === 2 && u.departmentId === 16],
      ['legalEntityId=99', () => false],
    ];
    for (const [filter, keep] of cases) {
      const expected = idsWhere(users, keep);
      assert.ok(expected.length > 0 || filter === 'legalEntityId=99', `${filter} selects someone`);
      assert.deepEqual(await readIds(tenant, filter), expected, filter);
    }
    const current = (u: LuccaRawUser) => u.dtContractEnd === null;
    assert.deepEqual(
      await readIds(tenant, 'legalEntityId=1,3&dtContractEnd=null'),
      idsWhere(users, (u) => inEntities(u) && current(u)),
    );
    const count = envelope(
      await call(tenant, '/api/v3/users?fields=collection.count&formerEmployees=true&departmentId=12,14'),
    ).data.count;
    assert.equal(count, idsWhere(users, inDepartments).length);
    assert.equal((await call(tenant, '/api/v3/users?legalEntityId=abc')).status, 400);
  });

  test('a tenant set to ignore the organisation filters answers everyone, and still applies the other filters', async () => {
    const users = generated();
    const tenant = newTenant({ users, organisationFilters: 'ignore' });
    const everyone = users.map((u) => u.id);
    assert.deepEqual(await readIds(tenant, 'legalEntityId=1,3'), everyone);
    assert.deepEqual(await readIds(tenant, 'legalEntityId=1&departmentId=12'), everyone);
    assert.deepEqual(
      await readIds(tenant, 'departmentId=12&dtContractEnd=null'),
      idsWhere(users, (u) => u.dtContractEnd === null),
    );
    const [first] = items(await call(tenant, '/api/v3/users?fields=legalEntity[id,name]&legalEntityId=99&paging=0,1'));
    assert.deepEqual(first, { legalEntity: users[0]?.legalEntity }, 'the fields are still served');

    fake.setOrganisationFilters(tenant, 'apply');
    assert.deepEqual(
      await readIds(tenant, 'legalEntityId=2'),
      idsWhere(users, (u) => u.legalEntityId === 2),
    );
    const other = newTenant({ users });
    assert.equal((await control('PUT', `/tenants/${other}/organisation-filters`, { mode: 'ignore' })).status, 200);
    assert.equal(
      ((await control('GET', `/tenants/${other}`)).body as { organisationFilters: string }).organisationFilters,
      'ignore',
    );
    assert.deepEqual(await readIds(other, 'departmentId=14'), everyone);
    assert.equal((await control('PUT', `/tenants/${other}/organisation-filters`, { mode: 'maybe' })).status, 400);
  });

  test('a user moved between two reads leaves the old filter and joins the new one, with the new name', async () => {
    const users = generated();
    const tenant = newTenant({ users });
    const mover = users.find((u) => u.legalEntityId === 1 && u.departmentId === 12) as LuccaRawUser;
    const [target] = FAKE_ORGANISATION.legalEntities.filter((u) => u.id === 3);
    const [hr] = FAKE_ORGANISATION.departments.filter((u) => u.id === 14);
    assert.ok((await readIds(tenant, 'legalEntityId=1')).includes(mover.id));
    fake.onNextRequest(tenant, (all) => moveUsers(all, [mover.id], { legalEntity: target, department: hr }));
    assert.ok(!(await readIds(tenant, 'legalEntityId=1')).includes(mover.id), 'left entity 1');
    assert.ok(
      (await readIds(tenant, 'legalEntityId=3&departmentId=14')).includes(mover.id),
      'joined entity 3, dept 14',
    );
    const one = envelope(await call(tenant, `/api/v3/users/${mover.id}?fields=${ORGANISATION_FIELDS}`)).data;
    assert.deepEqual(one, { legalEntityId: 3, legalEntity: target, departmentId: 14, department: hr });
    const others = fake.getUsers(tenant).filter((u) => u.id !== mover.id);
    assert.deepEqual(
      others,
      users.filter((u) => u.id !== mover.id),
      'nobody else moved',
    );

    const moved = await control('POST', `/tenants/${tenant}/move`, {
      userIds: [mover.id],
      department: { id: 12, name: 'Ressources Humaines' },
    });
    assert.equal(moved.status, 200);
    assert.deepEqual(items(await call(tenant, `/api/v3/users?fields=id,legalEntityId,departmentId&id=${mover.id}`)), [
      { id: mover.id, legalEntityId: 3, departmentId: 12 },
    ]);
    assert.equal((await control('POST', `/tenants/${tenant}/move`, { userIds: [mover.id] })).status, 400);
  });

  test('a renamed legal entity keeps its id and its people, and shows its new name on each of them', async () => {
    const users = generated();
    const tenant = newTenant({ users });
    const before = await readIds(tenant, 'legalEntityId=2');
    const renamed = { id: 2, name: 'Établissements Côte-Sud & Île de Ré' };
    fake.mutateUsers(tenant, (all) => renameOrgUnit(all, 'legalEntity', renamed));
    assert.deepEqual(await readIds(tenant, 'legalEntityId=2'), before);
    const served = items(await call(tenant, `/api/v3/users?fields=id,legalEntity[id,name]&formerEmployees=true`));
    for (const u of served) {
      const expected = users.find((x) => x.id === u.id)?.legalEntityId === 2 ? renamed : undefined;
      if (expected) assert.deepEqual(u.legalEntity, renamed);
      else assert.notEqual((u.legalEntity as FakeOrgUnit).name, renamed.name);
    }

    const department = { id: 13, name: 'Comptabilité, Contrôle de gestion et Trésorerie' };
    assert.equal((await control('POST', `/tenants/${tenant}/rename`, { department })).status, 200);
    const accounting = items(
      await call(tenant, '/api/v3/users?fields=department[id,name]&departmentId=13&formerEmployees=true'),
    );
    assert.equal(accounting.length, idsWhere(users, (u) => u.departmentId === 13).length);
    assert.ok(
      accounting.every((u) => (u.department as FakeOrgUnit).name === department.name),
      'the new name on everyone',
    );
    assert.equal((await control('POST', `/tenants/${tenant}/rename`, { team: department })).status, 400);
  });

  test('a tenant generated over HTTP can be given its own organisation', async () => {
    const tenant = newTenant({ users: [] });
    const organisation = {
      legalEntities: [{ id: 40, name: 'Mutuelle Générale de Bretagne' }],
      departments: [
        { id: 41, name: 'Œuvres sociales' },
        { id: 42, name: 'Secrétariat' },
      ],
    };
    assert.equal(
      (await control('POST', `/tenants/${tenant}/generate`, { size: 60, seed: 1, organisation })).status,
      200,
    );
    assert.deepEqual(
      items(await call(tenant, '/api/v3/users?fields=department[id,name]&formerEmployees=true&departmentId=41,42'))
        .length,
      60,
    );
    assert.deepEqual(await readIds(tenant, 'legalEntityId=1'), []);
  });
});

describe('HR file: standard extra fields and a section of custom fields', () => {
  const hrCompany = (): LuccaRawUser[] => [
    person(1, {
      employeeNumber: 'M000001',
      manager: null,
      extendedData: {
        e_seniority: '2012-04-01T00:00:00',
        e_site: '  Île de Nantes ',
        e_cseCategory: { id: 11, name: 'Cadre' },
        e_salaryBand: 'C',
      },
    }),
    person(2, {
      employeeNumber: 'M000002',
      manager: { id: 1, name: 'First1 Last1' },
      extendedData: { e_seniority: null, e_site: '', e_cseCategory: null, e_salaryBand: 'A' },
    }),
  ];

  test('extendedData[…] and extendedData.… serve only the custom fields asked for, empty values as they are', async () => {
    const tenant = newTenant({ users: hrCompany() });
    const bracket = items(await call(tenant, '/api/v3/users?fields=id,extendedData[e_seniority,E_SITE]'));
    assert.deepEqual(bracket, [
      { id: 1, extendedData: { e_seniority: '2012-04-01T00:00:00', e_site: '  Île de Nantes ' } },
      { id: 2, extendedData: { e_seniority: null, e_site: '' } },
    ]);
    const dotted = items(await call(tenant, '/api/v3/users?fields=id,extendedData.e_cseCategory,manager[id,name]'));
    assert.deepEqual(dotted[1], {
      id: 2,
      extendedData: { e_cseCategory: null },
      manager: { id: 1, name: 'First1 Last1' },
    });
  });

  test('a custom field of a section the key cannot consult is left out, not null; granting the section shows it', async () => {
    const tenant = newTenant({ users: hrCompany() });
    const hidden = items(await call(tenant, '/api/v3/users?fields=id,extendedData[e_salaryBand,e_seniority]'));
    assert.deepEqual(
      hidden.map((u) => u.extendedData),
      [{ e_seniority: '2012-04-01T00:00:00' }, { e_seniority: null }],
    );
    const granted = newTenant({
      users: hrCompany(),
      apiKeys: [{ key: KEY, hrSections: ['Avantages CSE', 'Rémunération'] }],
    });
    const shown = items(await call(granted, '/api/v3/users?fields=id,extendedData[e_salaryBand]'));
    assert.deepEqual(
      shown.map((u) => u.extendedData),
      [{ e_salaryBand: 'C' }, { e_salaryBand: 'A' }],
    );
  });

  test('a generated tenant has an HR file: accents, dates, references, empty values and a pay section', () => {
    const users = generateLuccaUsers({ size: 500, seed: 5, today: TODAY });
    const data = users.map((u) => u.extendedData as Record<string, unknown>);
    assert.ok(data.every((d) => typeof d.e_salaryBand === 'string'));
    assert.ok(data.some((d) => typeof d.e_seniority === 'string' && /T00:00:00$/.test(d.e_seniority)));
    assert.ok(data.some((d) => d.e_seniority === null || d.e_seniority === ''));
    assert.ok(data.some((d) => typeof d.e_site === 'string' && d.e_site.normalize('NFD') !== d.e_site));
    assert.ok(data.some((d) => (d.e_cseCategory as { name?: string } | null)?.name === 'Employé·e'));
    assert.ok(users.slice(1).every((u) => typeof (u.manager as { id?: unknown }).id === 'number'));
    assert.equal(users[0]?.employeeNumber, 'M000001');
  });
});
