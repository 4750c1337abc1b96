import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEvery } from '../../domain/duration';
import { describeReason, reason } from '../../domain/reasons';
import { REASON_CODES } from '../../domain/types';

const HOUR = 3_600_000;

describe('parseEvery', () => {
  const accepted: [string, number][] = [
    ['4h', 4 * HOUR],
    ['24h', 24 * HOUR],
    ['1d', 24 * HOUR],
    ['6h30m', 6.5 * HOUR],
    ['1d12h', 36 * HOUR],
    ['240m', 4 * HOUR],
    ['7d', 7 * 24 * HOUR],
    [' 12h ', 12 * HOUR],
  ];
  for (const [text, ms] of accepted) {
    test(`accepts ${JSON.stringify(text)}`, () => assert.deepEqual(parseEvery(text), { ok: true, ms }));
  }

  const tooOften: string[] = ['90m', '3h59m', '1h', '0h', '0m'];
  for (const text of tooOften) {
    test(`refuses ${text} as more often than every 4h`, () =>
      assert.deepEqual(parseEvery(text), { ok: false, message: 'sync.every must be at least 4h' }));
  }

  const tooRarely: string[] = ['7d1m', '8d', '169h', '9'.repeat(400) + 'd'];
  for (const text of tooRarely) {
    test(`refuses ${text.length > 10 ? 'an absurdly long duration' : text} as rarer than weekly`, () =>
      assert.deepEqual(parseEvery(text), { ok: false, message: 'sync.every must be at most 7d' }));
  }

  const malformed: string[] = ['', 'h', '4', '4H', '4 h', '30m6h', '1.5h', '-4h', 'PT4H', '4h 30m', 'daily'];
  for (const text of malformed) {
    test(`refuses the malformed duration ${JSON.stringify(text)} with an example of the format`, () => {
      const result = parseEvery(text);
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.message, /^sync\.every must be a duration such as 4h/);
    });
  }
});

describe('reasons', () => {
  for (const code of REASON_CODES) {
    test(`describes ${code} in one plain sentence`, () => {
      const sentence = describeReason(code);
      assert.match(sentence, /^[A-Z].*\.$/);
      assert.doesNotMatch(sentence, /[@\d]/);
    });
  }

  test('uses the generic sentence unless a narrower message is given', () => {
    assert.deepEqual(reason('rehired'), { code: 'rehired', message: describeReason('rehired') });
    assert.deepEqual(reason('rehired', 'narrower'), { code: 'rehired', message: 'narrower' });
  });
});
