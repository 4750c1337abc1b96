import ipaddr from 'ipaddr.js';

/**
 * Login throttling arithmetic, pure: the state lives in MongoDB (`db/login-attempts-repository`),
 * keyed by the account name and by the client address, so it holds across restarts and replicas.
 *
 * A key may fail `freeFailures` times; each failure from then on locks it for `baseDelayMs`,
 * doubling per further failure up to `maxDelayMs`. A key quiet for `forgetAfterMs` since its last
 * failure (and no longer locked) starts again from zero; a successful login clears its account.
 */
export interface LockoutPolicy {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
}

/** Per account: a few guesses, then backoff (30 s, 1 min, 2 min … 15 min). */
export const ACCOUNT_LOCKOUT: LockoutPolicy = {
  freeFailures: 5,
  baseDelayMs: 30_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 60 * 60_000,
};

/** Per address: more room (several admins behind one office address), the same backoff. */
export const ADDRESS_LOCKOUT: LockoutPolicy = {
  freeFailures: 20,
  baseDelayMs: 30_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 60 * 60_000,
};

export interface AttemptState {
  failures: number;
  lastFailureAt: Date;
  lockedUntil: Date | null;
}

/** How long the key is locked after its `failures`-th consecutive failure (0: not locked). */
export function lockDelayMs(policy: LockoutPolicy, failures: number): number {
  if (failures < policy.freeFailures) return 0;
  const doublings = Math.min(failures - policy.freeFailures, 30);
  return Math.min(policy.baseDelayMs * 2 ** doublings, policy.maxDelayMs);
}

/** The lock that follows a failure, counted atomically by the store: `failures` includes this one. */
export function lockAfterFailure(policy: LockoutPolicy, failures: number, at: Date): Date | null {
  const delay = lockDelayMs(policy, failures);
  return delay > 0 ? new Date(at.getTime() + delay) : null;
}

/** When the store may drop the key's record: forgotten once quiet long enough and unlocked. */
export function forgetAt(policy: LockoutPolicy, state: AttemptState): Date {
  const quietEnd = state.lastFailureAt.getTime() + policy.forgetAfterMs;
  return new Date(Math.max(quietEnd, state.lockedUntil?.getTime() ?? 0));
}

export function isForgotten(policy: LockoutPolicy, state: AttemptState, now: Date): boolean {
  return forgetAt(policy, state).getTime() <= now.getTime();
}

/** The latest lock still running among the keys' states, or null when a login may be tried. */
export function retryAt(states: (AttemptState | null)[], now: Date): Date | null {
  let latest: Date | null = null;
  for (const s of states) {
    if (s?.lockedUntil && s.lockedUntil.getTime() > now.getTime()) {
      if (!latest || s.lockedUntil.getTime() > latest.getTime()) latest = s.lockedUntil;
    }
  }
  return latest;
}

/** Whole seconds until `until`, at least 1 (the Retry-After header and the login page's message). */
export function secondsUntil(until: Date, now: Date): number {
  return Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
}

/**
 * The address a failed login is counted against. An IPv6 client usually holds a whole /64 (one
 * customer line, a cloud VM) and can pick any address in it, so IPv6 is throttled per /64 prefix;
 * an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, a dual-stack socket) is its IPv4 address.
 * Anything that does not parse is counted as it is.
 */
export function throttledAddress(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return address;
  const parsed = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const prefix = v6.parts.slice(0, 4).map((part) => part.toString(16));
  return `${prefix.join(':')}::/64`;
}
