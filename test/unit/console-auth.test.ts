import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { safeNext } from '../../console/context';
import {
  ACCOUNT_LOCKOUT,
  forgetAt,
  lockAfterFailure,
  lockDelayMs,
  retryAt,
  secondsUntil,
  throttledAddress,
  type LockoutPolicy,
} from '../../domain/login-lockout';
import { MIN_PASSWORD_LENGTH, passwordProblem } from '../../console/password';

describe('after login the admin is only sent to a path of the console itself', () => {
  const refused: [string, unknown][] = [
    ['an encoded tab before a second slash', '/%09/evil.com'],
    ['a raw tab between the slashes', '/\t/evil.com'],
    ['a raw newline between the slashes', '/\n/evil.com'],
    ['a protocol-relative URL', '//evil.com'],
    ['encoded slashes', '/%2F%2Fevil.com'],
    ['an encoded backslash', '/%5Cevil.com'],
    ['a backslash read as a slash', '/\\evil.com'],
    ['an absolute https URL', 'https://evil.com/companies'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a relative path', 'companies'],
    ['nothing', undefined],
    ['not a string', ['/companies']],
  ];
  for (const [what, next] of refused) {
    test(`${what} is refused`, () => assert.equal(safeNext(next), '/companies'));
  }

  test('a path of the console, with its query and fragment, is kept', () => {
    assert.equal(safeNext('/companies/acme/integration'), '/companies/acme/integration');
    assert.equal(
      safeNext('/companies/acme/profiles?linked=yes&status=active'),
      '/companies/acme/profiles?linked=yes&status=active',
    );
    assert.equal(safeNext('/companies/acme/runs/1#changes'), '/companies/acme/runs/1#changes');
  });
});

describe('a new console password must be long enough and not guessable from the account', () => {
  test(`under ${MIN_PASSWORD_LENGTH} characters is refused, counted in characters`, () => {
    assert.match(passwordProblem('Short-pass1', 'alice') ?? '', /at least 12 characters/);
    assert.equal(passwordProblem('correct horse battery', 'alice'), null);
    // Eleven accented characters are eleven, even where UTF-8 takes more bytes.
    assert.match(passwordProblem('éàüöçñøåßœæ', 'alice') ?? '', /at least 12/);
  });

  test('a password containing the user name, repeating one character or padded with spaces is refused', () => {
    assert.match(passwordProblem('alice-is-the-best', 'Alice') ?? '', /user name/);
    assert.match(passwordProblem('aaaaaaaaaaaaaaaa', 'bob') ?? '', /different characters/);
    assert.match(passwordProblem(' correct horse battery', 'bob') ?? '', /space/);
    assert.match(passwordProblem('x'.repeat(300) + 'abcd', 'bob') ?? '', /at most 256/);
  });
});

describe('failed logins lock a key with a doubling delay', () => {
  const policy: LockoutPolicy = { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 5000, forgetAfterMs: 60_000 };
  const at = new Date('2026-01-01T10:00:00Z');

  test('the free failures lock nothing; then 1 s, 2 s, 4 s, capped at 5 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 100].map((n) => lockDelayMs(policy, n)),
      [0, 0, 1000, 2000, 4000, 5000, 5000, 5000],
    );
    assert.equal(lockAfterFailure(policy, 2, at), null);
    assert.equal(lockAfterFailure(policy, 4, at)?.toISOString(), '2026-01-01T10:00:02.000Z');
  });

  test('the account policy allows five failures, then locks for 30 seconds', () => {
    assert.equal(lockDelayMs(ACCOUNT_LOCKOUT, ACCOUNT_LOCKOUT.freeFailures - 1), 0);
    assert.equal(lockDelayMs(ACCOUNT_LOCKOUT, ACCOUNT_LOCKOUT.freeFailures), 30_000);
  });

  test('a record is forgotten after a quiet period, never while still locked', () => {
    const quiet = { failures: 2, lastFailureAt: at, lockedUntil: null };
    assert.equal(forgetAt(policy, quiet).toISOString(), '2026-01-01T10:01:00.000Z');
    const longLock = { failures: 9, lastFailureAt: at, lockedUntil: new Date('2026-01-01T11:00:00Z') };
    assert.equal(forgetAt(policy, longLock).toISOString(), '2026-01-01T11:00:00.000Z');
  });

  test('the wait is the latest running lock among the account and the address', () => {
    const now = new Date('2026-01-01T10:00:00Z');
    const account = { failures: 5, lastFailureAt: now, lockedUntil: new Date('2026-01-01T10:00:30Z') };
    const address = { failures: 21, lastFailureAt: now, lockedUntil: new Date('2026-01-01T10:02:00Z') };
    const expired = { failures: 6, lastFailureAt: now, lockedUntil: new Date('2026-01-01T09:59:59Z') };
    assert.equal(retryAt([account, null, address], now)?.toISOString(), '2026-01-01T10:02:00.000Z');
    assert.equal(retryAt([expired, null], now), null);
    assert.equal(secondsUntil(new Date('2026-01-01T10:00:00.200Z'), now), 1);
    assert.equal(secondsUntil(new Date('2026-01-01T10:02:00Z'), now), 120);
  });
});

describe('failed logins are counted per client address, an IPv6 client per /64', () => {
  const cases: [string, string, string][] = [
    ['an IPv4 address as it is', '203.0.113.7', '203.0.113.7'],
    ['an IPv6 address by its /64', '2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['another address of the same /64 alike', '2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['a long form alike', '2001:0db8:0001:0002:0000:0000:0000:0001', '2001:db8:1:2::/64'],
    ['a zone id dropped', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['an IPv4-mapped address as its IPv4', '::ffff:192.0.2.1', '192.0.2.1'],
    ['loopback', '::1', '0:0:0:0::/64'],
    ['anything unparsable as it is', 'not-an-address', 'not-an-address'],
  ];
  for (const [what, address, key] of cases) {
    test(`${what}: ${address}`, () => assert.equal(throttledAddress(address), key));
  }

  test('the next /64 is another key', () => {
    assert.notEqual(throttledAddress('2001:db8:1:2::1'), throttledAddress('2001:db8:1:3::1'));
  });
});
