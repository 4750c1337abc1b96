import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../config/env';
import { isAllowedLuccaUrl, isValidAllowedHostEntry, normaliseLuccaBaseUrl } from '../../lucca/client';

describe('normaliseLuccaBaseUrl', () => {
  const cases: [string, string][] = [
    ['https://Acme.ilucca.net/some/path/', 'https://acme.ilucca.net'],
    ['https://acme.ilucca.net', 'https://acme.ilucca.net'],
    ['  https://acme.ilucca.net/  ', 'https://acme.ilucca.net'],
    ['acme.ilucca.net', 'https://acme.ilucca.net'],
    ['https://acme.ilucca.net:443/home?tab=1#x', 'https://acme.ilucca.net'],
    ['https://acme.ilucca-test.net/directory', 'https://acme.ilucca-test.net'],
    ['https://acme-dev.sandbox.eu1.luccasoftware.com/x', 'https://acme-dev.sandbox.eu1.luccasoftware.com'],
    ['http://127.0.0.1:4010/t/acme/', 'http://127.0.0.1:4010/t/acme'],
    ['http://LOCALHOST:4010/t/Acme', 'http://localhost:4010/t/Acme'],
    ['http://127.0.0.1:4010', 'http://127.0.0.1:4010'],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(normaliseLuccaBaseUrl(input), expected);
    });
  }

  for (const input of ['', 'https://', 'ftp://acme.ilucca.net', 'https://user:pw@acme.ilucca.net', 'http://exa mple']) {
    test(`${JSON.stringify(input)} is refused`, () => {
      assert.throws(() => normaliseLuccaBaseUrl(input), TypeError);
    });
  }
});

describe('isAllowedLuccaUrl', () => {
  const lucca: [string, boolean][] = [
    ['https://acme.ilucca.net', true],
    ['https://acme.ilucca-test.net', true],
    ['https://acme.ilucca-demo.net', true],
    ['https://acme.ilucca.ch', true],
    ['https://acme-sandbox1.sandbox.eu1.luccasoftware.com', true],
    ['https://acme-dev.sandbox.eu2.luccasoftware.com', true],
    ['https://acme-dev.sandbox.ch1.luccasoftware.com', true],
    ['https://acme-dev.sandbox.us1.luccasoftware.com', false],
    ['https://acme.sandbox.eu1.luccasoftware.com', false],
    ['https://accounts.world.luccasoftware.com', false],
    ['http://acme.ilucca.net', false],
    ['https://acme.ilucca.net:8443', false],
    ['https://ilucca.net', false],
    ['https://acme.ilucca.net.evil.com', false],
    ['https://acmeilucca.net', false],
    ['https://evil-ilucca.net', false],
    ['https://user:pw@acme.ilucca.net', false],
    ['http://127.0.0.1:4010', false],
    ['not a url', false],
  ];
  for (const [url, expected] of lucca) {
    test(`${url} is ${expected ? '' : 'not '}a Lucca tenant URL`, () => {
      assert.equal(isAllowedLuccaUrl(url, []), expected);
    });
  }

  const widened: [string, string[], boolean][] = [
    ['http://127.0.0.1:4010/t/acme', ['http://127.0.0.1:4010'], true],
    ['http://127.0.0.1:4011/t/acme', ['http://127.0.0.1:4010'], false],
    ['https://127.0.0.1:4010', ['http://127.0.0.1:4010'], false],
    ['http://127.0.0.1:51234', ['http://127.0.0.1:*'], true],
    ['http://localhost:51234', ['http://127.0.0.1:*'], false],
    ['https://lucca.example.test', ['*.example.test'], true],
    ['https://a.b.example.test', ['*.example.test'], true],
    ['https://example.test', ['*.example.test'], false],
    ['https://evilexample.test', ['*.example.test'], false],
    ['http://lucca.example.test', ['*.example.test'], false],
    ['https://lucca.example.test:8443', ['*.example.test'], false],
    ['https://lucca.example.test:8443', ['*.example.test:8443'], true],
    ['https://lucca.example.test', ['lucca.example.test'], true],
    ['http://[::1]:4010', ['http://[::1]:4010'], true],
    ['http://127.0.0.1:4010', ['', 'garbage://x', 'http://127.0.0.1:4010/'], true],
    ['https://acme.ilucca.net', ['http://127.0.0.1:4010'], true],
  ];
  for (const [url, extra, expected] of widened) {
    test(`${url} is ${expected ? '' : 'not '}allowed by ${JSON.stringify(extra)}`, () => {
      assert.equal(isAllowedLuccaUrl(url, extra), expected);
    });
  }

  test('LUCCA_ALLOWED_HOSTS entries can be validated up front', () => {
    for (const ok of ['http://127.0.0.1:4010', 'http://127.0.0.1:*', '*.example.test', 'lucca.example.test:8443']) {
      assert.equal(isValidAllowedHostEntry(ok), true, ok);
    }
    for (const bad of ['', 'ftp://x', 'http://', '*', 'http://a/b', 'a:99999999']) {
      assert.equal(isValidAllowedHostEntry(bad), false, bad);
    }
  });

  test('a malformed LUCCA_ALLOWED_HOSTS entry stops the start, named, instead of being ignored', () => {
    assert.deepEqual(loadConfig({ LUCCA_ALLOWED_HOSTS: 'http://127.0.0.1:4010, *.example.test' }).LUCCA_ALLOWED_HOSTS, [
      'http://127.0.0.1:4010',
      '*.example.test',
    ]);
    assert.throws(
      () => loadConfig({ LUCCA_ALLOWED_HOSTS: 'http://127.0.0.1:4010,ftp://files.example.test' }),
      (err: Error) =>
        err instanceof ConfigError &&
        /LUCCA_ALLOWED_HOSTS=".*": "ftp:\/\/files\.example\.test" is not an origin/.test(err.message),
    );
  });
});
