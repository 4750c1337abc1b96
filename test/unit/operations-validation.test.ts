import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { syncRefusal, type CompanyDocument } from '../../db/companies-repository';
import { OperationError } from '../../operations/errors';
import { validateCompanyId, validateLuccaUrl, validateTimezone } from '../../operations/onboard';
import { companyScheduleOptions, parseEveryOrThrow, scheduleJitterMs } from '../../operations/schedule';
import { refuseUnsyncable } from '../../operations/sync';
import { readApiKey } from '../../scripts/lib/read-api-key';

const rejects = (fn: () => unknown, code: string, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof OperationError && err.code === code && message.test(err.message));

describe('onboarding validation', () => {
  test('company ids are slugs', () => {
    for (const ok of ['acme', 'acme-fr', 'a1']) validateCompanyId(ok);
    for (const bad of ['Acme', 'a', '-acme', 'acme_fr', 'acme fr', `a${'b'.repeat(63)}`]) {
      rejects(() => validateCompanyId(bad), 'invalid-company-id', /not a slug/);
    }
  });

  test('a Lucca URL is normalised, and a host that is not Lucca is refused unless allowed for testing', () => {
    assert.equal(validateLuccaUrl('Acme.ilucca.net/home/', []), 'https://acme.ilucca.net');
    rejects(() => validateLuccaUrl('https://acme.example.com', []), 'not-a-lucca-host', /not a Lucca address/);
    rejects(() => validateLuccaUrl('http://acme.ilucca.net', []), 'not-a-lucca-host', /over https/);
    rejects(() => validateLuccaUrl('http://127.0.0.1:4010/t/acme', []), 'not-a-lucca-host', /LUCCA_ALLOWED_HOSTS/);
    assert.equal(
      validateLuccaUrl('http://127.0.0.1:4010/t/acme/', ['http://127.0.0.1:4010']),
      'http://127.0.0.1:4010/t/acme',
    );
    rejects(() => validateLuccaUrl('https://user:pw@acme.ilucca.net', []), 'invalid-lucca-url', /credentials/);
  });

  test('time zones must be IANA names', () => {
    validateTimezone('Europe/Paris');
    rejects(() => validateTimezone('Mars/Olympus'), 'invalid-timezone', /IANA/);
  });

  test('a frequency under 4 hours is refused with the rule in the message', () => {
    assert.equal(parseEveryOrThrow('4h'), 4 * 3600_000);
    rejects(() => parseEveryOrThrow('3h59m'), 'invalid-every', /--every "3h59m" must be at least 4h/);
    rejects(() => parseEveryOrThrow('daily'), 'invalid-every', /must be a duration/);
  });
});

describe('who may get a new run', () => {
  const company = (over: Partial<CompanyDocument> = {}, apiKey: string | null = 'v1:cipher'): CompanyDocument => ({
    _id: 'acme',
    name: 'Acme',
    timezone: 'Europe/Paris',
    lucca: { baseUrl: 'https://acme.ilucca.net', apiKey, apiKeyHint: 'WXYZ', connectedAt: new Date() },
    sync: { every: '24h', paused: false, deactivationGuard: { maxPercent: 10, minCount: 5 } },
    createdAt: new Date(),
    updatedAt: new Date(),
    ...over,
  });

  test('a company that is missing, offboarded or being offboarded gets no request, each with its reason', () => {
    assert.equal(syncRefusal(company()), null);
    assert.equal(syncRefusal(null), 'company-not-found');
    assert.equal(syncRefusal(company({}, null)), 'offboarded');
    assert.equal(syncRefusal(company({ offboardedAt: new Date() })), 'offboarded', 'the key not erased yet');
    refuseUnsyncable('acme', company());
    rejects(() => refuseUnsyncable('acme', null), 'company-not-found', /is not onboarded/);
    rejects(() => refuseUnsyncable('acme', company({}, null)), 'offboarded', /was offboarded .*onboard it again/);
    rejects(() => refuseUnsyncable('acme', company({ offboardedAt: new Date() })), 'offboarded', /is being offboarded/);
  });
});

describe('the company schedule', () => {
  test('fires every sync.every with a little jitter, skips overlaps and tags the started workflow', () => {
    const options = companyScheduleOptions({ companyId: 'acme', every: '24h', taskQueue: 'lucca-sync' });
    assert.equal(options.scheduleId, 'company-sync-schedule:acme');
    assert.deepEqual(options.spec.intervals, [{ every: 24 * 3600_000 }]);
    assert.equal(options.spec.jitter, 10 * 60_000);
    assert.equal(options.policies?.overlap, 'SKIP');
    assert.equal(options.action.workflowType, 'scheduledSyncWorkflow');
    assert.deepEqual(options.action.args, [{ companyId: 'acme' }]);
    assert.deepEqual(
      (options.action.typedSearchAttributes as { key: { name: string }; value: unknown }[]).map((p) => [
        p.key.name,
        p.value,
      ]),
      [
        ['CompanyId', 'acme'],
        ['SyncTrigger', 'schedule'],
      ],
    );
    assert.match(options.state?.note ?? '', /company acme every 24h/);
  });

  test('jitter stays small next to the interval', () => {
    assert.equal(scheduleJitterMs(4 * 3600_000), 5 * 60_000);
    assert.equal(scheduleJitterMs(7 * 24 * 3600_000), 10 * 60_000);
  });
});

describe('reading the API key', () => {
  const stdin = (text: string, isTTY = false) =>
    Object.assign(Readable.from([Buffer.from(text)]), { isTTY }) as unknown as NodeJS.ReadStream;

  test('comes from a file, an environment variable or stdin, trimmed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'key-'));
    try {
      await writeFile(path.join(dir, 'k'), '  KEY-FROM-FILE\n');
      assert.equal(await readApiKey({ apiKeyFile: path.join(dir, 'k') }), 'KEY-FROM-FILE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    process.env.TEST_LUCCA_KEY = 'KEY-FROM-ENV';
    assert.equal(await readApiKey({ apiKeyEnv: 'TEST_LUCCA_KEY' }), 'KEY-FROM-ENV');
    assert.equal(await readApiKey({}, stdin('KEY-FROM-STDIN\n')), 'KEY-FROM-STDIN');
  });

  test('is refused when empty, ambiguous, or expected from an interactive terminal', async () => {
    await assert.rejects(readApiKey({}, stdin('')), /empty/);
    await assert.rejects(readApiKey({}, stdin('two words')), /several words/);
    await assert.rejects(readApiKey({}, stdin('', true)), /--api-key-file/);
    await assert.rejects(readApiKey({ apiKeyFile: 'a', apiKeyEnv: 'B' }), /one way/);
    await assert.rejects(
      readApiKey({ apiKeyFile: '/no/such/key' }),
      /Cannot read the API key file \/no\/such\/key \(ENOENT\)/,
    );
  });
});
