import { requireKeyring } from '../config/env';
import { ApiKeyDecryptError, decryptApiKey, encryptApiKey, secretIdOf, type Keyring } from '../db/api-key-cipher';
import { alertTargetsOf, type CompanyDocument } from '../db/companies-repository';
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
  /** Webhook signing secrets (alerts), stored encrypted the same way: counts, and the companies concerned. */
  webhooks: {
    reencrypted: number;
    alreadyCurrent: number;
    /** Companies whose targets changed while the rotation ran: run it again. */
    changedMeanwhile: string[];
    /** `<company>/<target id>` of the secrets no secret of the keyring decrypts: add those webhooks again. */
    undecryptable: string[];
    /** Per company, how many of its webhook secrets this rotation re-encrypted. */
    byCompany: Record<string, number>;
  };
}

/**
 * Re-encrypts every stored Lucca API key and webhook signing secret under the newest secret of the
 * keyring (the first of LUCCA_SYNC_SECRETS), so that an older secret can then be removed: a rotated
 * or leaked secret costs a command, not a new key from every company. Re-runnable; what is already
 * under the newest secret is left as it is. The keys themselves never leave this function.
 */
export async function rotateApiKeys(deps: OperationsDeps): Promise<RotateKeysResult> {
  const keyring = requireKeyring(deps.config);
  const result: RotateKeysResult = {
    secretId: keyring.current.id,
    reencrypted: [],
    alreadyCurrent: [],
    changedMeanwhile: [],
    undecryptable: [],
    webhooks: { reencrypted: 0, alreadyCurrent: 0, changedMeanwhile: [], undecryptable: [], byCompany: {} },
  };
  for (const company of await deps.repos.companies.list()) {
    await rotateWebhookSecrets(deps, keyring, company, result.webhooks);
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

/**
 * Re-encrypts a company's webhook signing secrets under the newest secret (each bound to the company
 * and its webhook's URL, as when it was added). Done before its API key, on the document as listed:
 * the webhooks are written back whole, only if the company has not changed since.
 */
async function rotateWebhookSecrets(
  deps: OperationsDeps,
  keyring: Keyring,
  company: CompanyDocument,
  result: RotateKeysResult['webhooks'],
): Promise<void> {
  const { webhooks } = alertTargetsOf(company);
  let changed = 0;
  const next = webhooks.map((webhook) => {
    if (secretIdOf(webhook.secret) === keyring.current.id) {
      result.alreadyCurrent++;
      return webhook;
    }
    const binding = { companyId: company._id, baseUrl: webhook.url };
    let secret: string;
    try {
      secret = decryptApiKey(keyring, binding, webhook.secret);
    } catch (err) {
      if (!(err instanceof ApiKeyDecryptError)) throw err;
      result.undecryptable.push(`${company._id}/${webhook.id}`);
      return webhook;
    }
    changed++;
    return { ...webhook, secret: encryptApiKey(keyring, binding, secret) };
  });
  if (changed === 0) return;
  if (await deps.repos.companies.replaceWebhooks(company._id, company.updatedAt, next, deps.now?.() ?? new Date())) {
    result.reencrypted += changed;
    result.byCompany[company._id] = changed;
  } else {
    result.changedMeanwhile.push(company._id);
  }
}
