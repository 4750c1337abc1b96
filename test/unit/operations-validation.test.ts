import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { syncRefusal, type CompanyDocument } from '../../db/companies-repository';
import { OperationError } from '../../operations/errors';
import { validateCompanyId, validateLuccaUrl, validateTimezone } from '../../operations/onboard';
import {
  companyDatesScheduleOptions,
  companyScheduleOptions,
  companySpreadSeconds,
  datesFireAt,
  parseEveryOrThrow,
  scheduleOffsetMs,
} from '../../operations/schedule';
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
  test("fires every sync.every at the company's offset, skips overlaps and tags the started workflow", () => {
    const options = companyScheduleOptions({ companyId: 'acme', every: '24h', taskQueue: 'lucca-sync' });
    assert.equal(options.scheduleId, 'company-sync-schedule:acme');
    assert.deepEqual(options.spec.intervals, [
      { every: 24 * 3600_000, offset: scheduleOffsetMs('acme', 24 * 3600_000) },
    ]);
    assert.equal(options.spec.jitter, undefined);
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

  /**
   * Counts of `n` offsets in each of `buckets` equal slices of a 4-hour interval. A uniform hash
   * puts a Binomial(n, 1/buckets) count in each slice; the bound is its mean plus 5 standard
   * deviations (exceeded by chance in some slice with probability under 48 × 3·10⁻⁷), far below the
   * fleet in one slice that an interval counted from the epoch gave (every firing in the first 5 min).
   */
  function spread(ids: string[], buckets: number) {
    const every = FOUR_HOURS_MS;
    const counts = new Array<number>(buckets).fill(0);
    for (const id of ids) {
      const offset = scheduleOffsetMs(id, every);
      assert.ok(
        Number.isInteger(offset / 1000) && offset >= 0 && offset < every,
        `${id}: ${offset} is a second in [0, every)`,
      );
      counts[Math.floor((offset * buckets) / every)]! += 1;
    }
    const mean = ids.length / buckets;
    const sd = Math.sqrt(mean * (1 - 1 / buckets));
    return { counts, low: mean - 5 * sd, high: mean + 5 * sd };
  }
  const FOUR_HOURS_MS = 4 * 3600_000;

  for (const n of [1_000, 10_000]) {
    test(`${n.toLocaleString('en')} companies on a 4-hour cadence spread over its 48 five-minute slices, none above mean + 5 sd`, () => {
      // Sequential ids, the hardest case for a weak hash; and scattered slugs (fixed, so the test is too).
      for (const ids of [
        Array.from({ length: n }, (_, i) => `company-${i}`),
        Array.from({ length: n }, (_, i) => `acme-${((i * 2_654_435_761) % 2 ** 32).toString(36)}`),
      ]) {
        const { counts, low, high } = spread(ids, 48);
        const top = Math.max(...counts);
        const bottom = Math.min(...counts);
        assert.ok(top <= high, `busiest slice ${top} ≤ ${high.toFixed(1)} (${counts.join(' ')})`);
        assert.ok(bottom >= low, `quietest slice ${bottom} ≥ ${low.toFixed(1)} (${counts.join(' ')})`);
      }
    });
  }

  test('an offset is stable: the same id and interval give the same second in every process and version', () => {
    for (const id of ['acme', 'company-1', 'Société Générale', randomUUID()]) {
      assert.equal(scheduleOffsetMs(id, FOUR_HOURS_MS), scheduleOffsetMs(id, FOUR_HOURS_MS));
      assert.ok(scheduleOffsetMs(id, 7 * 24 * 3600_000) < 7 * 24 * 3600_000);
    }
    // Pinned: SHA-256("acme") starts 0x822b33ad87c1, i.e. 143,122,062,215,105, which is 3,905 mod
    // 14,400 and 61,505 mod 86,400. A change of the formula would move every deployed schedule.
    assert.equal(companySpreadSeconds('acme', 14_400), 3_905);
    assert.equal(scheduleOffsetMs('acme', FOUR_HOURS_MS), 3_905_000);
    assert.equal(scheduleOffsetMs('acme', 24 * 3600_000), 61_505_000);
  });

  test('date rolls spread from 00:05 to 00:35 local, each company at its own second, the zone kept', () => {
    const perMinute = new Array<number>(30).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const at = datesFireAt(`company-${i}`);
      const seconds = at.hour * 3600 + at.minute * 60 + at.second;
      assert.ok(seconds >= 5 * 60 && seconds < 35 * 60, `company-${i} at ${JSON.stringify(at)}`);
      perMinute[Math.floor(seconds / 60) - 5]! += 1;
    }
    const mean = n / 30;
    const high = mean + 5 * Math.sqrt(mean * (1 - 1 / 30));
    assert.ok(Math.max(...perMinute) <= high, `busiest minute ${Math.max(...perMinute)} ≤ ${high.toFixed(1)}`);
    assert.ok(Math.min(...perMinute) > 0, 'every minute of the window is used');
    const options = companyDatesScheduleOptions({ companyId: 'acme', timezone: 'Europe/Paris', taskQueue: 'q' });
    assert.deepEqual(options.spec, { calendars: [datesFireAt('acme')], timezone: 'Europe/Paris' });
    assert.deepEqual(datesFireAt('acme'), datesFireAt('acme'));
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
