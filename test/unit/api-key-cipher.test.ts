import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_SECRET_ID, loadConfig, requireKeyring } from '../../config/env';
import { ApiKeyDecryptError, decryptApiKey, encryptApiKey, keyringOf, secretIdOf } from '../../db/api-key-cipher';

const OLD = 'old-secret-0123456789abcdef0123456789';
const NEW = 'new-secret-0123456789abcdef0123456789';
const KEY = 'ABCDEF12-3456-7890-ABCD-EF1234567890';
const acme = { companyId: 'acme', baseUrl: 'https://acme.ilucca.net' };
const refused = (fn: () => unknown) => assert.throws(fn, ApiKeyDecryptError);

/** A key as the previous version stored it: bound to the company only, one secret, no id. */
function storedByV1(secret: string, companyId: string, apiKey: string): string {
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(secret), Buffer.alloc(0), 'lucca-sync/api-key/v1', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(companyId));
  const body = Buffer.concat([cipher.update(apiKey, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
}

describe('API keys at rest', () => {
  const old = keyringOf([{ id: 'default', secret: OLD }]);
  const rotating = keyringOf([
    { id: '2026-11', secret: NEW },
    { id: 'default', secret: OLD },
  ]);

  test('a key decrypts only for the company and the Lucca URL it was stored for', () => {
    const stored = encryptApiKey(old, acme, KEY);
    assert.equal(decryptApiKey(old, acme, stored), KEY);
    assert.ok(!stored.includes(KEY));
    refused(() => decryptApiKey(old, { ...acme, companyId: 'globex' }, stored));
    refused(() => decryptApiKey(old, { ...acme, baseUrl: 'https://evil.example.test' }, stored));
  });

  test('the newest secret encrypts, every secret of the keyring decrypts', () => {
    const underOld = encryptApiKey(old, acme, KEY);
    const underNew = encryptApiKey(rotating, acme, KEY);
    assert.deepEqual([secretIdOf(underOld), secretIdOf(underNew)], ['default', '2026-11']);
    assert.equal(decryptApiKey(rotating, acme, underOld), KEY);
    assert.equal(decryptApiKey(rotating, acme, underNew), KEY);
    assert.throws(
      () => decryptApiKey(old, acme, underNew),
      (err: Error) =>
        err instanceof ApiKeyDecryptError && /secret "2026-11", which the keyring does not hold/.test(err.message),
    );
  });

  test('a truncated authentication tag is refused, whatever GCM would accept', () => {
    const [v, id, iv, tag, body] = encryptApiKey(old, acme, KEY).split(':') as [string, string, string, string, string];
    const short = Buffer.from(tag, 'base64').subarray(0, 4).toString('base64');
    refused(() => decryptApiKey(old, acme, [v, id, iv, short, body].join(':')));
    refused(() => decryptApiKey(old, acme, [v, id, iv, tag, `${body.slice(0, -4)}AAAA`].join(':')));
  });

  test('keys stored by the previous version still decrypt, with the secret they were stored with', () => {
    const v1 = storedByV1(OLD, 'acme', KEY);
    assert.equal(secretIdOf(v1), null);
    assert.equal(decryptApiKey(rotating, acme, v1), KEY);
    refused(() => decryptApiKey(keyringOf([{ id: 'x', secret: NEW }]), acme, v1));
    refused(() => decryptApiKey(old, { ...acme, companyId: 'globex' }, v1));
  });

  test('the keyring is read from LUCCA_SYNC_SECRET or LUCCA_SYNC_SECRETS, and misread never', () => {
    assert.equal(requireKeyring(loadConfig({ LUCCA_SYNC_SECRET: OLD })).current.id, DEFAULT_SECRET_ID);
    const ring = requireKeyring(loadConfig({ LUCCA_SYNC_SECRETS: `2026-11=${NEW}, default=${OLD}` }));
    assert.equal(ring.current.id, '2026-11');
    assert.deepEqual([...ring.secrets.keys()], ['2026-11', 'default']);
    const refusedConfig = (env: NodeJS.ProcessEnv, message: RegExp) =>
      assert.throws(
        () => requireKeyring(loadConfig(env)),
        (err: Error) => message.test(err.message) && !err.message.includes(OLD) && !err.message.includes(NEW),
      );
    refusedConfig({ LUCCA_SYNC_SECRET: OLD, LUCCA_SYNC_SECRETS: `a=${NEW}` }, /Both/);
    refusedConfig({}, /LUCCA_SYNC_SECRET is not set/);
    refusedConfig({ LUCCA_SYNC_SECRETS: NEW }, /entry 1 is not <id>=<secret>/);
    refusedConfig({ LUCCA_SYNC_SECRETS: `a=${NEW},b=short` }, /Secret "b" is too short/);
    refusedConfig({ LUCCA_SYNC_SECRETS: `a=${NEW},a=${OLD}` }, /names secret "a" twice/);
  });
});
