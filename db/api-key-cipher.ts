import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Lucca API keys are stored encrypted with AES-256-GCM. The 256-bit key is derived from
 * LUCCA_SYNC_SECRET with HKDF, so the secret itself can be any long random string. The company
 * id is bound as additional authenticated data: a ciphertext copied onto another company's
 * document does not decrypt.
 */
const VERSION = 'v1';

function deriveKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'lucca-sync/api-key/v1', 32));
}

export class ApiKeyDecryptError extends Error {
  constructor() {
    super(
      'The stored Lucca API key cannot be decrypted: LUCCA_SYNC_SECRET differs from the one used at onboarding, or the stored value was altered. Restore the secret, or onboard the company again with a fresh key.',
    );
  }
}

export function encryptApiKey(secret: string, companyId: string, apiKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret), iv);
  cipher.setAAD(Buffer.from(companyId, 'utf8'));
  const body = Buffer.concat([cipher.update(apiKey, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
}

export function decryptApiKey(secret: string, companyId: string, stored: string): string {
  const [version, iv, tag, body] = stored.split(':');
  if (version !== VERSION || !iv || !tag || body === undefined) throw new ApiKeyDecryptError();
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret), Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(companyId, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new ApiKeyDecryptError();
  }
}

export const apiKeyHint = (apiKey: string): string => apiKey.trim().slice(-4);
