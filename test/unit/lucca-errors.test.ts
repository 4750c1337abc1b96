import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  errorForStatus,
  LuccaAuthError,
  LuccaError,
  LuccaNotLuccaError,
  LuccaRateLimitedError,
  LuccaRequestError,
  LuccaTransientError,
  parseRetryAfter,
} from '../../lucca/errors';

describe('errorForStatus', () => {
  const table: { status: number; type: new (...args: never[]) => LuccaError; code: string; retryable: boolean }[] = [
    { status: 401, type: LuccaAuthError, code: 'lucca-auth', retryable: false },
    { status: 403, type: LuccaAuthError, code: 'lucca-auth', retryable: false },
    { status: 429, type: LuccaRateLimitedError, code: 'lucca-rate-limited', retryable: true },
    { status: 408, type: LuccaTransientError, code: 'lucca-unavailable', retryable: true },
    { status: 500, type: LuccaTransientError, code: 'lucca-unavailable', retryable: true },
    { status: 502, type: LuccaTransientError, code: 'lucca-unavailable', retryable: true },
    { status: 503, type: LuccaTransientError, code: 'lucca-unavailable', retryable: true },
    { status: 504, type: LuccaTransientError, code: 'lucca-unavailable', retryable: true },
    { status: 400, type: LuccaRequestError, code: 'lucca-request', retryable: false },
    { status: 404, type: LuccaRequestError, code: 'lucca-request', retryable: false },
    { status: 422, type: LuccaRequestError, code: 'lucca-request', retryable: false },
    { status: 302, type: LuccaNotLuccaError, code: 'lucca-not-lucca', retryable: false },
    { status: 601, type: LuccaNotLuccaError, code: 'lucca-not-lucca', retryable: false },
  ];
  for (const row of table) {
    test(`HTTP ${row.status} becomes ${row.type.name} (${row.code}, ${row.retryable ? '' : 'not '}retryable)`, () => {
      const error = errorForStatus(row.status, null);
      assert.ok(error instanceof row.type);
      assert.ok(error instanceof LuccaError);
      assert.ok(error instanceof Error);
      assert.equal(error.code, row.code);
      assert.equal(error.retryable, row.retryable);
      assert.equal(error.status, row.status);
      assert.equal(error.name, row.type.name);
    });
  }

  test('a 401 tells the operator to get a new key and onboard again', () => {
    const error = errorForStatus(401, null, { host: 'acme.ilucca.net' });
    assert.match(error.message, /acme\.ilucca\.net/);
    assert.match(error.message, /refused the API key \(401\)/);
    assert.match(error.message, /Ask the company's Lucca admin for a new API key and run onboard again/);
  });

  test('a 403 says the key lacks a permission on the users directory and former employees', () => {
    const error = errorForStatus(403, null);
    assert.match(error.message, /lacks a permission \(403\)/);
    assert.match(error.message, /users directory/);
    assert.match(error.message, /former employees/);
  });

  test('a 429 carries the Retry-After delay in ms', () => {
    const now = new Date('2025-11-22T10:00:00Z');
    const seconds = errorForStatus(429, '7', { now });
    assert.ok(seconds instanceof LuccaRateLimitedError);
    assert.equal(seconds.retryAfterMs, 7000);
    const date = errorForStatus(429, 'Sat, 22 Nov 2025 10:00:30 GMT', { now });
    assert.ok(date instanceof LuccaRateLimitedError);
    assert.equal(date.retryAfterMs, 30_000);
    const absent = errorForStatus(429, null, { now });
    assert.ok(absent instanceof LuccaRateLimitedError);
    assert.equal(absent.retryAfterMs, null);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2025-11-22T10:00:00Z');
  const cases: [string | null, number | null][] = [
    [null, null],
    ['', null],
    ['0', 0],
    ['1', 1000],
    [' 120 ', 120_000],
    ['1.5', 1500],
    ['Sat, 22 Nov 2025 10:01:00 GMT', 60_000],
    ['sat, 22 nov 2025 10:00:01 gmt', 1000],
    ['Saturday, 22-Nov-25 10:00:05 GMT', 5000],
    ['Sat Nov 22 10:00:10 2025', 10_000],
    ['Sat Nov  2 10:00:10 2025', 0],
    ['Fri, 21 Nov 2025 10:00:00 GMT', 0],
    ['-5', null],
    ['soon', null],
    ['soon 5', null],
    ['5 seconds', null],
    ['Sat, 31 Feb 2025 10:00:00 GMT', null],
    ['Sat, 22 Nov 2025 25:00:00 GMT', null],
    ['Sat, 22 Foo 2025 10:00:00 GMT', null],
    ['2025-11-22T10:01:00Z', null],
  ];
  for (const [value, expected] of cases) {
    test(`${JSON.stringify(value)} → ${expected === null ? 'null' : `${expected} ms`}`, () => {
      assert.equal(parseRetryAfter(value, now), expected);
    });
  }
});
