import { randomBytes } from 'node:crypto';
import type { ConsoleAccountDocument } from '../db/console-accounts-repository';
import type { ConsoleStore } from '../db/console-store';
import { normalizeUsername } from '../domain/console-accounts';
import { ACCOUNT_LOCKOUT, ADDRESS_LOCKOUT, retryAt, type LockoutPolicy } from '../domain/login-lockout';
import { hashPassword, MAX_PASSWORD_LENGTH, verifyPassword } from './password';

export type LoginOutcome =
  { outcome: 'ok'; account: ConsoleAccountDocument } | { outcome: 'refused' } | { outcome: 'locked'; retryAt: Date };

export interface LoginPolicies {
  account: LockoutPolicy;
  address: LockoutPolicy;
}

export const DEFAULT_LOGIN_POLICIES: LoginPolicies = { account: ACCOUNT_LOCKOUT, address: ADDRESS_LOCKOUT };

// Checked for unknown or disabled accounts, so the answer takes as long as for a real one.
let decoyHash: Promise<string> | undefined;
const decoy = () => (decoyHash ??= hashPassword(randomBytes(16).toString('base64')));

/**
 * One login attempt: refused without checking the password while the account or the address is
 * locked; otherwise checked, a failure counted against both, a success clearing the account's count.
 * Unknown, disabled and wrong-password logins all read the same.
 */
export async function attemptLogin(
  store: ConsoleStore,
  input: { username: string; password: string; address: string; now?: Date },
  policies: LoginPolicies = DEFAULT_LOGIN_POLICIES,
): Promise<LoginOutcome> {
  const now = input.now ?? new Date();
  const username = normalizeUsername(input.username).slice(0, 200);
  const { loginAttempts } = store;
  const states = await Promise.all([
    loginAttempts.get('account', username, now),
    loginAttempts.get('address', input.address, now),
  ]);
  const locked = retryAt(states, now);
  if (locked) return { outcome: 'locked', retryAt: locked };

  const account = username ? await store.accounts.get(username) : null;
  const usable = account && !account.disabled && input.password.length <= MAX_PASSWORD_LENGTH;
  const passwordOk = await verifyPassword(input.password, usable ? account.passwordHash : await decoy());
  if (usable && passwordOk) {
    await loginAttempts.clear('account', username);
    return { outcome: 'ok', account };
  }
  const after = await Promise.all([
    loginAttempts.recordFailure('account', username, policies.account, now),
    loginAttempts.recordFailure('address', input.address, policies.address, now),
  ]);
  const lockedNow = retryAt(after, now);
  return lockedNow ? { outcome: 'locked', retryAt: lockedNow } : { outcome: 'refused' };
}
