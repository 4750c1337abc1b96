import { requireKeyring } from '../config/env';
import { ApiKeyDecryptError, decryptApiKey, encryptApiKey, secretIdOf } from '../db/api-key-cipher';
import type { OperationsDeps } from './context';

export interface RotateKeysResult {
  /** The secret every stored key is now encrypted with. */
  secretId: string;
  reencrypted: string[];
  alreadyCurrent: string[];
  /** Onboarded again while the rotation ran: the newer key was kept as stored. */
  changedMeanwhile: string[];
  /** No secret of the keyring decrypts their key: onboard them again with a fresh key. */
  undecryptable: string[];
}

/**
 * Re-encrypts every stored Lucca API key under the newest secret of the keyring (the first of
 * LUCCA_SYNC_SECRETS), so that an older secret can then be removed: a rotated or leaked secret
 * costs a command, not a new key from every company. Re-runnable; keys already under the newest
 * secret are left as they are. The keys themselves never leave this function.
 */
export async function rotateApiKeys(deps: OperationsDeps): Promise<RotateKeysResult> {
  const keyring = requireKeyring(deps.config);
  const result: RotateKeysResult = {
    secretId: keyring.current.id,
    reencrypted: [],
    alreadyCurrent: [],
    changedMeanwhile: [],
    undecryptable: [],
  };
  for (const company of await deps.repos.companies.list()) {
    const stored = company.lucca.apiKey;
    if (stored === null) continue;
    if (secretIdOf(stored) === keyring.current.id) {
      result.alreadyCurrent.push(company._id);
      continue;
    }
    const binding = { companyId: company._id, baseUrl: company.lucca.baseUrl };
    let apiKey: string;
    try {
      apiKey = decryptApiKey(keyring, binding, stored);
    } catch (err) {
      if (!(err instanceof ApiKeyDecryptError)) throw err;
      result.undecryptable.push(company._id);
      continue;
    }
    const next = encryptApiKey(keyring, binding, apiKey);
    const replaced = await deps.repos.companies.replaceApiKey(company._id, stored, next, deps.now?.() ?? new Date());
    (replaced ? result.reencrypted : result.changedMeanwhile).push(company._id);
  }
  return result;
}
