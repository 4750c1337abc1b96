import { reason } from './reasons';
import type { LuccaPlacement, MappedLuccaUser, PlacementUnit, Reason, SyncedField, SyncedFields } from './types';

export type DateOnlyResult = { ok: true; value: string | null } | { ok: false };

// Lucca sends a date as a local date-time at midnight with no offset (`1989-12-22T00:00:00`); a plain
// date is accepted too, and the date part is taken as it is (a JS Date would shift it by a time zone).
// Only midnight without an offset is the date itself: `1980-04-30T22:00:00Z` is a date converted to
// UTC somewhere (1 May in Paris), so an offset or another time makes the value invalid rather than
// silently cut to a date a day off.
const LUCCA_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T00:00(?::00(?:\.0{1,9})?)?)?$/;

// A year outside this window is a typing error in Lucca (0001-01-01, 20222-…), not a real date of
// birth or contract; storing it would make status rules and reports nonsense.
const MIN_YEAR = 1900;
const MAX_YEAR = 2200;

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** True for a real calendar date written `YYYY-MM-DD` within the years the sync accepts. */
export function isValidDateOnly(value: string): boolean {
  const result = luccaDateToDateOnly(value);
  return result.ok && result.value === value;
}

export function luccaDateToDateOnly(value: unknown): DateOnlyResult {
  if (value === null || value === undefined) return { ok: true, value: null };
  if (typeof value !== 'string') return { ok: false };
  const text = value.trim();
  if (text === '') return { ok: true, value: null };
  const match = LUCCA_DATE.exec(text);
  if (!match) return { ok: false };
  const [, y = '', m = '', d = ''] = match;
  const year = Number(y);
  const month = Number(m);
  const day = Number(d);
  if (year < MIN_YEAR || year > MAX_YEAR) return { ok: false };
  if (month < 1 || month > 12) return { ok: false };
  if (day < 1 || day > daysInMonth(year, month)) return { ok: false };
  return { ok: true, value: `${y}-${m}-${d}` };
}

// Controls and zero-width/bidi formatting characters are invisible in the UI but make two equal-looking
// names differ, and bidi overrides can disguise log lines. Whitespace controls are collapsed first, so
// "Jean\tPierre" keeps its space.
const INVISIBLE = /[\p{Cc}\u200B\u2060\u202A-\u202E\u2066-\u2069]/gu;

export function normaliseName(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  // NFC last: removing an invisible character can bring a base letter and its combining accent together.
  const name = value.replace(/\s+/gu, ' ').replace(INVISIBLE, '').replace(/ {2,}/g, ' ').trim().normalize('NFC');
  return name === '' ? null : name;
}

export function normaliseEmail(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const email = value.trim().toLowerCase().normalize('NFC');
  return email === '' ? null : email;
}

const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;

/**
 * Deliberately pragmatic, not RFC 5322: the email is a matching key and a login, so it only has to be
 * something a mail server could plausibly deliver to. Non-ASCII is allowed (internationalised addresses).
 */
export function isValidEmail(email: string): boolean {
  if (email.length === 0 || email.length > MAX_EMAIL_LENGTH) return false;
  if (/[\s\p{C}]/u.test(email)) return false;
  const parts = email.split('@');
  if (parts.length !== 2) return false;
  const [local = '', domain = ''] = parts;
  if (local.length === 0 || local.length > MAX_LOCAL_PART_LENGTH) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  return labels.every((label) => label.length > 0 && !label.startsWith('-') && !label.endsWith('-'));
}

/**
 * The longest value, trimmed, the sync takes from each Lucca field: names far above any real one
 * (255), an email at RFC 5321's 254, a date at twice its longest accepted form (64). A longer value
 * is a broken or hostile record, skipped whole (`field-too-long`) rather than stored, shown in
 * reports and staged (a page's users are staged as one document, which must stay far below
 * MongoDB's 16 MB). The id needs no cap of its own: it must be a positive safe integer.
 */
export const LUCCA_FIELD_MAX_LENGTHS = {
  firstName: 255,
  lastName: 255,
  mail: 254,
  birthDate: 64,
  dtContractStart: 64,
  dtContractEnd: 64,
} as const;

const LUCCA_DATE_FIELDS = [
  ['birthDate', 'birthDate'],
  ['dtContractStart', 'contractStart'],
  ['dtContractEnd', 'contractEnd'],
] as const satisfies readonly (readonly [string, SyncedField])[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Own properties only: a record parsed from hostile JSON may carry `__proto__` or rely on inherited keys.
function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

/** The most characters of a unit's name kept: far above any real one; a longer name is cut, the unit kept. */
export const PLACEMENT_NAME_MAX_LENGTH = 255;

function placementUnit(value: unknown): PlacementUnit | null {
  if (!isRecord(value)) return null;
  const id = own(value, 'id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return null;
  const name = normaliseName(own(value, 'name'));
  return { id, name: name === null ? null : name.slice(0, PLACEMENT_NAME_MAX_LENGTH) };
}

/**
 * The user's legal entity and department, when the read asked for them (the record carries either
 * key); a unit without a usable id is none. Undefined otherwise, so nothing is compared.
 */
function placementOf(raw: Record<string, unknown>): LuccaPlacement | undefined {
  if (!Object.hasOwn(raw, 'legalEntity') && !Object.hasOwn(raw, 'department')) return undefined;
  return { legalEntity: placementUnit(own(raw, 'legalEntity')), department: placementUnit(own(raw, 'department')) };
}

/**
 * Turns one untrusted Lucca v3 user into the six synced fields. Never throws: a record that cannot be
 * used becomes a `skip`, and a bad optional value becomes null plus an issue (an invalid date is also
 * named in `unusable`, for the profile to keep its own), so one broken record never stops a company's sync.
 */
export function mapLuccaUser(raw: unknown): MappedLuccaUser {
  if (!isRecord(raw)) {
    return {
      kind: 'skip',
      luccaUserId: null,
      reasons: [reason('invalid-record', 'the Lucca record is not an object')],
    };
  }
  const id = own(raw, 'id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    return {
      kind: 'skip',
      luccaUserId: null,
      reasons: [reason('invalid-record', 'the Lucca record has no positive integer id')],
    };
  }

  const tooLong = Object.entries(LUCCA_FIELD_MAX_LENGTHS).filter(([field, max]) => {
    const value = own(raw, field);
    return typeof value === 'string' && value.length > max && value.trim().length > max;
  });
  if (tooLong.length > 0) {
    return {
      kind: 'skip',
      luccaUserId: id,
      reasons: tooLong.map(([field, max]) =>
        reason('field-too-long', `${field} in Lucca is over ${max} characters; the user is not synced`),
      ),
    };
  }

  const firstName = normaliseName(own(raw, 'firstName'));
  const lastName = normaliseName(own(raw, 'lastName'));
  const missingNames = [firstName === null ? 'firstName' : null, lastName === null ? 'lastName' : null].filter(
    (field) => field !== null,
  );
  if (missingNames.length > 0) {
    const message = `${missingNames.join(' and ')} ${missingNames.length > 1 ? 'are' : 'is'} empty; the user is not synced`;
    return { kind: 'skip', luccaUserId: id, reasons: [reason('missing-name', message)] };
  }

  const issues: Reason[] = [];

  const rawMail = own(raw, 'mail');
  let email: string | null = null;
  if (isBlank(rawMail)) {
    issues.push(reason('missing-email', 'mail is empty in Lucca'));
  } else {
    const normalised = normaliseEmail(rawMail);
    if (normalised !== null && isValidEmail(normalised)) email = normalised;
    else issues.push(reason('invalid-email', 'mail in Lucca is not a valid email address'));
  }

  const dates: Pick<SyncedFields, 'birthDate' | 'contractStart' | 'contractEnd'> = {
    birthDate: null,
    contractStart: null,
    contractEnd: null,
  };
  const unusable: SyncedField[] = [];
  for (const [luccaField, field] of LUCCA_DATE_FIELDS) {
    const result = luccaDateToDateOnly(own(raw, luccaField));
    if (result.ok) {
      dates[field] = result.value;
    } else {
      issues.push(
        reason('invalid-date', `${field} is not a plain calendar date; not synced, the profile keeps its value`),
      );
      unusable.push(field);
    }
  }

  const placement = placementOf(raw);
  return {
    kind: 'ok',
    luccaUserId: id,
    fields: { firstName, lastName, email, ...dates },
    issues,
    // Only when there are some: the mapped user is staged as BSON, which would store an undefined as null.
    ...(unusable.length > 0 ? { unusable } : {}),
    ...(placement ? { placement } : {}),
  };
}
