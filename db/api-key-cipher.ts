import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Lucca API keys are stored encrypted with AES-256-GCM (a 128-bit tag, pinned on both sides). The
 * 256-bit key is derived with HKDF from a secret of the keyring, so a secret can be any long random
 * string. The company id and the Lucca URL are bound as additional authenticated data: a
 * ciphertext copied onto another company's document, or left behind when the URL is changed by
 * hand in MongoDB, does not decrypt — the key never goes to a host it was not given for.
 *
 * Stored as `v2:<secretId>:<iv>:<tag>:<ciphertext>`: several secrets can be in use at once (the
 * newest encrypts, all decrypt), so a secret is rotated by re-encrypting the stored keys
 * (`npm run cli -- rotate-keys`), not by asking every company for a new Lucca key. Keys stored
 * before (`v1:`, one secret, bound to the company only) still decrypt with any secret of the keyring.
 */
const VERSION = 'v2';
const TAG_BYTES = 16;

/** The secrets API keys are encrypted with: `current` encrypts, every one decrypts. */
export interface Keyring {
  current: { id: string; secret: string };
  /** By id, `current` included. */
  secrets: ReadonlyMap<string, string>;
}

/** What a key is bound to: it decrypts only for this company and this Lucca URL. */
export interface KeyBinding {
  companyId: string;
  baseUrl: string;
}

export function keyringOf(secrets: readonly { id: string; secret: string }[]): Keyring {
  const [current] = secrets;
  if (!current) throw new RangeError('A keyring needs at least one secret');
  return { current, secrets: new Map(secrets.map((s) => [s.id, s.secret])) };
}

function deriveKey(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), info, 32));
}

export class ApiKeyDecryptError extends Error {
  constructor(detail = 'no secret of the keyring decrypts it, or the stored value was altered') {
    super(
      `The stored Lucca API key cannot be decrypted: ${detail}. Restore the secret (LUCCA_SYNC_SECRET or LUCCA_SYNC_SECRETS), or onboard the company again with a fresh key.`,
    );
  }
}

const aadOf = (binding: KeyBinding) => Buffer.from(JSON.stringify([binding.companyId, binding.baseUrl]), 'utf8');

export function encryptApiKey(keyring: Keyring, binding: KeyBinding, apiKey: string): string {
  const { id, secret } = keyring.current;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, 'lucca-sync/api-key/v2'), iv, {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(aadOf(binding));
  const body = Buffer.concat([cipher.update(apiKey, 'utf8'), cipher.final()]);
  return [VERSION, id, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(
    ':',
  );
}

export function decryptApiKey(keyring: Keyring, binding: KeyBinding, stored: string): string {
  const parts = stored.split(':');
  if (parts[0] === 'v1' && parts.length === 4) {
    const [, iv, tag, body] = parts as [string, string, string, string];
    for (const secret of keyring.secrets.values()) {
      const key = open(
        deriveKey(secret, 'lucca-sync/api-key/v1'),
        Buffer.from(binding.companyId, 'utf8'),
        iv,
        tag,
        body,
      );
      if (key !== null) return key;
    }
    throw new ApiKeyDecryptError();
  }
  if (parts[0] !== VERSION || parts.length !== 5)
    throw new ApiKeyDecryptError('it is not in a format this version stores');
  const [, id, iv, tag, body] = parts as [string, string, string, string, string];
  const secret = keyring.secrets.get(id);
  if (secret === undefined)
    throw new ApiKeyDecryptError(`it was encrypted with secret "${id}", which the keyring does not hold`);
  const key = open(deriveKey(secret, 'lucca-sync/api-key/v2'), aadOf(binding), iv, tag, body);
  if (key === null) {
    throw new ApiKeyDecryptError(
      `secret "${id}" does not decrypt it for this company and Lucca URL (was the URL changed outside onboarding?)`,
    );
  }
  return key;
}

/** The secret id a stored key was encrypted with (`null` for keys stored before secrets had ids). */
export function secretIdOf(stored: string): string | null {
  const parts = stored.split(':');
  return parts[0] === VERSION ? (parts[1] ?? null) : null;
}

function open(key: Buffer, aad: Buffer, iv: string, tag: string, body: string): string | null {
  const tagBytes = Buffer.from(tag, 'base64');
  // A shorter tag would be accepted by GCM and weaken it: the length is pinned.
  if (tagBytes.length !== TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

export const apiKeyHint = (apiKey: string): string => apiKey.trim().slice(-4);
