import { randomBytes } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { AuditLogRepository } from '../db/audit-log-repository';
import type { ConsoleAccountDocument } from '../db/console-accounts-repository';
import type { ConsoleStore } from '../db/console-store';
import { normalizeUsername, USERNAME_PATTERN } from '../domain/console-accounts';
import {
  ACCOUNT_LOCKOUT,
  ADDRESS_LOCKOUT,
  retryAt,
  throttledAddress,
  type AttemptState,
  type LockoutPolicy,
} from '../domain/login-lockout';
import { recordConsoleAudit } from '../operations/audit';
import { hashPassword, MAX_PASSWORD_LENGTH, verifyPassword } from './password';

export type LoginOutcome =
  | { outcome: 'ok'; account: ConsoleAccountDocument }
  | { outcome: 'refused' }
  | { outcome: 'locked'; retryAt: Date }
  | { outcome: 'busy' };

export interface LoginPolicies {
  account: LockoutPolicy;
  address: LockoutPolicy;
}

export const DEFAULT_LOGIN_POLICIES: LoginPolicies = { account: ACCOUNT_LOCKOUT, address: ADDRESS_LOCKOUT };

/**
 * Password checks (scrypt: a core and 16 MB for each while it runs) run at most `concurrency` at a time,
 * with at most `queue` more waiting; an attempt past that is answered "busy" at once, without a
 * check. A flood of logins (many addresses, many names, none locked yet) so costs at most that
 * many cores, and the rest of the console (and Node's thread pool, shared with DNS and files) keeps
 * serving. Locked keys never get here: they are refused before any check.
 */
export class LoginGate {
  private readonly limit: LimitFunction;
  /** How many checks ran, and the most that ran at once (tests, and what the numbers above promise). */
  started = 0;
  highWater = 0;

  constructor(
    readonly concurrency = LOGIN_CHECK_CONCURRENCY,
    readonly queue = LOGIN_CHECK_QUEUE,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Runs `check` in turn, or returns null (no check) when `queue` attempts are already waiting. */
  tryRun<T>(check: () => Promise<T>): Promise<T> | null {
    if (this.limit.pendingCount >= this.queue) return null;
    return this.limit(() => {
      this.started += 1;
      this.highWater = Math.max(this.highWater, this.limit.activeCount);
      return check();
    });
  }
}

/** Two cores' worth: the console's machine is small, and a login is a rare, human act. */
export const LOGIN_CHECK_CONCURRENCY = 2;
/** Ten checks' worth of waiting for each one running: past it, "busy, try again". */
export const LOGIN_CHECK_QUEUE = 20;

export interface LoginOptions {
  policies?: LoginPolicies;
  gate?: LoginGate;
  /** Where logins, failures and lock-outs are recorded (the console's audit log); none in some tests. */
  auditLog?: AuditLogRepository;
}

// Checked for unknown or disabled accounts, so the answer takes as long as for a real one.
let decoyHash: Promise<string> | undefined;
const decoy = () => (decoyHash ??= hashPassword(randomBytes(16).toString('base64')));

const defaultGate = new LoginGate();

/**
 * One login attempt: refused without checking the password while the account or the address is
 * locked; otherwise checked (through the gate), a failure counted against both, a success clearing
 * the account's count. Unknown, disabled and wrong-password logins all read the same to the client;
 * the audit log tells them apart by code. The address is counted as `throttledAddress` says (IPv6 per /64).
 */
export async function attemptLogin(
  store: ConsoleStore,
  input: { username: string; password: string; address: string; now?: Date },
  options: LoginOptions = {},
): Promise<LoginOutcome> {
  const policies = options.policies ?? DEFAULT_LOGIN_POLICIES;
  const now = input.now ?? new Date();
  const username = normalizeUsername(input.username).slice(0, 200);
  const address = throttledAddress(input.address);
  const { loginAttempts } = store;
  const states = await Promise.all([
    loginAttempts.get('account', username, now),
    loginAttempts.get('address', address, now),
  ]);
  const locked = retryAt(states, now);
  // Nothing is checked, counted or recorded while locked: a flood against a locked key costs two reads.
  if (locked) return { outcome: 'locked', retryAt: locked };

  const checked = (options.gate ?? defaultGate).tryRun(async (): Promise<LoginOutcome> => {
    const account = USERNAME_PATTERN.test(username) ? await store.accounts.get(username) : null;
    const usable = account && !account.disabled && input.password.length <= MAX_PASSWORD_LENGTH;
    const passwordOk = await verifyPassword(input.password, usable ? account.passwordHash : await decoy());
    // Only an existing account's handle is recorded: what was typed for an unknown one may be a password.
    const actor = { actor: account ? account._id : '?', source: 'console' as const };
    if (usable && passwordOk) {
      await loginAttempts.clear('account', username);
      // Recorded before the session exists: no login that the log does not show.
      if (options.auditLog) {
        await recordConsoleAudit(options.auditLog, actor, { action: 'login' }, { outcome: 'ok', code: null }, now);
      }
      return { outcome: 'ok', account };
    }
    const after = await Promise.all([
      loginAttempts.recordFailure('account', username, policies.account, now),
      loginAttempts.recordFailure('address', address, policies.address, now),
    ]);
    const lockedNow = retryAt(after, now);
    if (options.auditLog) {
      const code = !account ? 'unknown-account' : account.disabled ? 'disabled-account' : 'wrong-password';
      await recordFailure(options.auditLog, actor, code, after, now);
    }
    return lockedNow ? { outcome: 'locked', retryAt: lockedNow } : { outcome: 'refused' };
  });
  return checked ?? { outcome: 'busy' };
}

/** The failed login, and the lock-out it started if it did (which key, for how long; never the address itself). */
async function recordFailure(
  auditLog: AuditLogRepository,
  actor: { actor: string; source: 'console' },
  code: string,
  [account, address]: AttemptState[],
  now: Date,
): Promise<void> {
  await recordConsoleAudit(auditLog, actor, { action: 'login' }, { outcome: 'refused', code }, now);
  const lockedFor = (state: AttemptState | undefined) =>
    state?.lockedUntil ? Math.ceil((state.lockedUntil.getTime() - now.getTime()) / 1000) : 0;
  const accountSeconds = lockedFor(account);
  const addressSeconds = lockedFor(address);
  if (accountSeconds > 0 || addressSeconds > 0) {
    await recordConsoleAudit(
      auditLog,
      actor,
      {
        action: 'lockout',
        params: {
          ...(accountSeconds > 0 ? { accountSeconds, accountFailures: account?.failures ?? 0 } : {}),
          ...(addressSeconds > 0 ? { addressSeconds, addressFailures: address?.failures ?? 0 } : {}),
        },
      },
      { outcome: 'ok', code: null },
      now,
    );
  }
}
