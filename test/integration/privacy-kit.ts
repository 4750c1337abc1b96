import type { LuccaRawUser } from '../../dev-tools/fake-lucca';

/* What the privacy tests search logs and histories with. */

/** Every piece of personal data served for these users, in the forms the sync could carry it. */
export function personalData(users: LuccaRawUser[]): string[] {
  const values = new Set<string>();
  for (const u of users) {
    for (const name of [u.firstName, u.lastName]) if (typeof name === 'string' && name.trim()) values.add(name.trim());
    if (typeof u.mail === 'string' && u.mail.trim()) {
      values.add(u.mail.trim());
      // The sync stores emails trimmed and lowercased.
      values.add(u.mail.trim().toLowerCase());
    }
    if (typeof u.birthDate === 'string' && u.birthDate.trim()) {
      values.add(u.birthDate.trim());
      values.add(u.birthDate.trim().slice(0, 10));
    }
  }
  return [...values];
}

/** Whole-word search: a short surname must not be "found" inside an unrelated identifier. */
export const occurs = (haystack: string, needle: string) =>
  new RegExp(`(?<![\\p{L}\\p{N}])${needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'u').test(
    haystack,
  );

/** The values of `secrets` found in `text`, as they are or JSON-escaped (accents, quotes). */
export const found = (text: string, secrets: string[]) =>
  secrets.filter((s) => occurs(text, s) || occurs(text, JSON.stringify(s).slice(1, -1)));

/** History as text, with payload bytes decoded (their protobuf JSON would be base64, where no scan finds a name). */
export function readableHistory(history: unknown): string {
  const plain = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
    }
    return value;
  };
  return JSON.stringify(plain(history));
}
