import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Admin password hashes: `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`, made with
 * `npm run console -- hash-password`. Verification re-derives the hash and compares in constant time.
 */
const DEFAULTS = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keylen, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, DEFAULTS, KEY_LENGTH);
  return ['scrypt', DEFAULTS.N, DEFAULTS.r, DEFAULTS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

const HASH_FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

export function isPasswordHash(text: string): boolean {
  return HASH_FORMAT.test(text.trim());
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = HASH_FORMAT.exec(stored.trim());
  if (!m) return false;
  const expected = Buffer.from(m[5] ?? '', 'base64');
  const actual = await derive(
    password,
    Buffer.from(m[4] ?? '', 'base64'),
    { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) },
    expected.length,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Compares user names without leaking their length or content through timing. */
export function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  const padded = Buffer.alloc(Math.max(left.length, right.length));
  left.copy(padded);
  const other = Buffer.alloc(padded.length);
  right.copy(other);
  return timingSafeEqual(padded, other) && left.length === right.length;
}

export const MIN_PASSWORD_LENGTH = 12;
/** scrypt reads the whole password: an upper bound keeps one login from costing much. */
export const MAX_PASSWORD_LENGTH = 256;

/** Why a new console password is refused, or null when it is acceptable (counted in characters, NFC). */
export function passwordProblem(password: string, username: string): string | null {
  const length = [...password.normalize('NFC')].length;
  if (length < MIN_PASSWORD_LENGTH) return `Use a password of at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (length > MAX_PASSWORD_LENGTH) return `Use a password of at most ${MAX_PASSWORD_LENGTH} characters.`;
  if (password.trim() !== password) return 'The password must not start or end with a space.';
  if (new Set(password).size < 4) return 'The password repeats too few different characters.';
  const name = username.trim().toLowerCase();
  if (name.length >= 3 && password.toLowerCase().includes(name)) return 'The password must not contain the user name.';
  return null;
}
