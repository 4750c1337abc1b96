import { luccaDateToDateOnly, mapLuccaUser, normaliseName } from './map-lucca-user';
import { reason } from './reasons';
import { SYNCED_FIELDS, type MappedLuccaUser, type Reason } from './types';

/**
 * Extra Lucca fields a company chooses to read beyond the six core ones: standard fields of the v3
 * users (a known list) or custom HR-file fields (`extendedData.e_*`), each stored under a key of
 * the profile's `lucca.extra` — a namespace of its own, so an extra never lands on a platform
 * field or on a core field whatever its key.
 */

export type ExtraFieldType = 'text' | 'date' | 'number' | 'boolean' | 'reference';
export const EXTRA_FIELD_TYPES: readonly ExtraFieldType[] = ['text', 'date', 'number', 'boolean', 'reference'];

/** A reference value: Lucca's `{id, name}` of a manager, a department, a custom list item. */
export interface ExtraReference {
  id: number | string;
  name: string | null;
}

/** An extra field's value as stored: text NFC and trimmed, a date `YYYY-MM-DD`, or null when empty. */
export type ExtraValue = string | number | boolean | ExtraReference | null;

/** One extra field of a company: the Lucca field read, the key it is stored under, its type. */
export interface ExtraFieldSpec {
  /** `employeeNumber`, `manager`… or a custom field's Lucca name `e_<name>`. */
  lucca: string;
  /** The key under the profile's `lucca.extra`. */
  key: string;
  type: ExtraFieldType;
}

/**
 * The standard v3 user fields a company may add, with their type and how they are asked for
 * (`fields=`). Organisation and manager objects are asked as `{id, name}` only.
 */
export const STANDARD_EXTRA_FIELDS: Readonly<Record<string, { type: ExtraFieldType; request: string }>> = {
  employeeNumber: { type: 'text', request: 'employeeNumber' },
  jobTitle: { type: 'text', request: 'jobTitle' },
  department: { type: 'reference', request: 'department[id,name]' },
  legalEntity: { type: 'reference', request: 'legalEntity[id,name]' },
  manager: { type: 'reference', request: 'manager[id,name]' },
};

const CUSTOM_FIELD = /^e_[A-Za-z0-9_]{1,100}$/;
const EXTRA_KEY = /^[a-z][A-Za-z0-9_]{0,39}$/;
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);

/**
 * The most extra fields a company may read: each one widens every page Lucca sends (a page of
 * 1,000 users with ten more fields is about 0.85 MB, see the client's byte cap) and the request's
 * `fields=` list, which stays far below any URL limit at this count.
 */
export const MAX_EXTRA_FIELDS = 50;

/** The longest text value kept (trimmed); a longer one is unusable: the profile keeps its value. */
export const MAX_EXTRA_TEXT_LENGTH = 1000;

export const isCustomField = (lucca: string): boolean => CUSTOM_FIELD.test(lucca);

/** The key an extra field is stored under unless the operator names one: `e_seniority` → `seniority`. */
export function defaultExtraKey(lucca: string): string {
  return isCustomField(lucca) ? lucca.slice(2) : lucca;
}

/** Why `spec` cannot be one of a company's extra fields, in a sentence; null when it can. */
export function extraFieldProblem(spec: ExtraFieldSpec): string | null {
  const standard = Object.hasOwn(STANDARD_EXTRA_FIELDS, spec.lucca) ? STANDARD_EXTRA_FIELDS[spec.lucca] : undefined;
  if (!standard && !isCustomField(spec.lucca)) {
    return (
      `${JSON.stringify(spec.lucca)} is not a field the sync can add: a custom field is named e_<name> in Lucca, ` +
      `and the standard ones are ${Object.keys(STANDARD_EXTRA_FIELDS).join(', ')}.`
    );
  }
  if (!EXTRA_KEY.test(spec.key) || RESERVED_KEYS.has(spec.key)) {
    return `The key ${JSON.stringify(spec.key)} must start with a lower-case letter and hold only letters, digits and _ (40 at most).`;
  }
  if ((SYNCED_FIELDS as readonly string[]).includes(spec.key)) {
    return `The key ${spec.key} is one of the six core fields; choose another key for this extra field.`;
  }
  if (!EXTRA_FIELD_TYPES.includes(spec.type)) {
    return `The type ${JSON.stringify(spec.type)} is not one of ${EXTRA_FIELD_TYPES.join(', ')}.`;
  }
  if (standard && standard.type !== spec.type) {
    return `${spec.lucca} is a ${standard.type} field in Lucca, not ${spec.type}.`;
  }
  return null;
}

/** Why a whole list of extra fields cannot be a company's; null when it can. */
export function extraFieldsProblem(specs: readonly ExtraFieldSpec[]): string | null {
  if (specs.length > MAX_EXTRA_FIELDS) {
    return `A company reads at most ${MAX_EXTRA_FIELDS} extra fields; this list has ${specs.length}.`;
  }
  const keys = new Set<string>();
  const names = new Set<string>();
  for (const spec of specs) {
    const problem = extraFieldProblem(spec);
    if (problem) return problem;
    if (keys.has(spec.key)) return `Two extra fields would be stored under the key ${spec.key}.`;
    if (names.has(spec.lucca.toLowerCase())) return `${spec.lucca} is read twice.`;
    keys.add(spec.key);
    names.add(spec.lucca.toLowerCase());
  }
  return null;
}

/** What `fields=` must add to read `specs`: the standard fields as they are asked, the custom ones in one `extendedData[…]`. */
export function extraRequestFields(specs: readonly ExtraFieldSpec[]): string[] {
  const standard = specs.filter((s) => !isCustomField(s.lucca)).map((s) => STANDARD_EXTRA_FIELDS[s.lucca]!.request);
  const custom = specs.filter((s) => isCustomField(s.lucca)).map((s) => s.lucca);
  return [...standard, ...(custom.length > 0 ? [`extendedData[${custom.join(',')}]`] : [])];
}

/** Sentinel: the field is not in the item at all (not the same as null: a key that cannot see it). */
export const ABSENT: unique symbol = Symbol('absent');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Lucca matches names case-insensitively and answers in camelCase: look a name up the same way.
function lookup(record: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(record, name)) return record[name];
  const lower = name.toLowerCase();
  const key = Object.keys(record).find((k) => k.toLowerCase() === lower);
  return key === undefined ? ABSENT : record[key];
}

/** An extra field's raw value in one Lucca user, or ABSENT when the user does not carry it. */
export function rawExtraValue(item: unknown, lucca: string): unknown {
  if (!isRecord(item)) return ABSENT;
  if (!isCustomField(lucca)) return lookup(item, lucca);
  const extended = lookup(item, 'extendedData');
  if (extended === ABSENT) return ABSENT;
  // A user with no custom data at all may come with `extendedData: null`: every field is empty, not hidden.
  if (extended === null) return null;
  return isRecord(extended) ? lookup(extended, lucca) : ABSENT;
}

export type ExtraResult = { ok: true; value: ExtraValue } | { ok: false };

const NUMBER = /^-?\d+(?:[.,]\d+)?$/;

/**
 * An untrusted Lucca value as the type says, normalised like the core fields (text NFC and
 * trimmed, dates date-only); an empty value is null. `ok: false` when it cannot be read as that
 * type: the profile then keeps its value, as it does for a core date Lucca sends broken.
 */
export function normaliseExtraValue(raw: unknown, type: ExtraFieldType): ExtraResult {
  if (raw === null || raw === undefined || raw === ABSENT) return { ok: true, value: null };
  if (typeof raw === 'string' && raw.trim() === '') return { ok: true, value: null };
  switch (type) {
    case 'text': {
      if (typeof raw === 'number' && Number.isFinite(raw)) return { ok: true, value: String(raw) };
      if (typeof raw !== 'string' || raw.trim().length > MAX_EXTRA_TEXT_LENGTH) return { ok: false };
      return { ok: true, value: normaliseName(raw) };
    }
    case 'date': {
      const result = luccaDateToDateOnly(raw);
      return result.ok ? { ok: true, value: result.value } : { ok: false };
    }
    case 'number': {
      if (typeof raw === 'number') return Number.isFinite(raw) ? { ok: true, value: raw } : { ok: false };
      if (typeof raw === 'string' && NUMBER.test(raw.trim())) {
        return { ok: true, value: Number(raw.trim().replace(',', '.')) };
      }
      return { ok: false };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      if (raw === 'true' || raw === 'false') return { ok: true, value: raw === 'true' };
      return { ok: false };
    }
    case 'reference': {
      if (!isRecord(raw)) return { ok: false };
      const id = raw.id;
      const validId =
        (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && id.trim() !== '');
      if (!validId) return { ok: false };
      const name = raw.name;
      if (name !== null && name !== undefined && (typeof name !== 'string' || name.length > MAX_EXTRA_TEXT_LENGTH)) {
        return { ok: false };
      }
      return { ok: true, value: { id: typeof id === 'string' ? id.trim() : id, name: normaliseName(name) } };
    }
  }
}

/** Whether two stored extra values are the same (a reference by its id and its name). */
export function sameExtraValue(a: ExtraValue | undefined, b: ExtraValue | undefined): boolean {
  const x = a ?? null;
  const y = b ?? null;
  if (isRecord(x) && isRecord(y)) return x.id === y.id && (x.name ?? null) === (y.name ?? null);
  return x === y;
}

/** A value has something in it (for the blanking guard). */
export const hasExtraValue = (value: ExtraValue | undefined): boolean => value !== null && value !== undefined;

/** How a change's `fields` names an extra field's diff: `extra:<key>` (no dot: FerretDB refuses dotted field names). */
export const EXTRA_DIFF_PREFIX = 'extra:';
export type ExtraDiffKey = `extra:${string}`;
export const extraDiffKey = (key: string): ExtraDiffKey => `${EXTRA_DIFF_PREFIX}${key}`;
export const isExtraDiffKey = (field: string): field is ExtraDiffKey => field.startsWith(EXTRA_DIFF_PREFIX);

/** A value for a report or a console cell: a reference by its name (and id), a date as it is. */
export function formatExtraValue(value: ExtraValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return value.name ? `${value.name} (${String(value.id)})` : String(value.id);
  return String(value);
}

/**
 * What a company reads beyond the core fields: its extra fields, and the keys an operator removed
 * with their values cleared — every run blanks what a profile still holds under them (reported
 * and guarded like any blanking) until none is left, then plans nothing for them.
 */
export interface ExtraFieldsConfig {
  fields: readonly ExtraFieldSpec[];
  cleared: readonly string[];
}

export const NO_EXTRA_FIELDS: ExtraFieldsConfig = { fields: [], cleared: [] };

/**
 * One mapped Lucca user with its extra fields: each configured field's value (null when empty),
 * null for a cleared key, and the keys whose Lucca value could not be read as their type
 * (`unusableExtra`: the profile keeps its value, an `invalid-value` reason says which).
 */
export function mapLuccaUserWithExtras(raw: unknown, config: ExtraFieldsConfig): MappedLuccaUser {
  const user = mapLuccaUser(raw);
  if (user.kind !== 'ok' || (config.fields.length === 0 && config.cleared.length === 0)) return user;
  const extra: Record<string, ExtraValue> = {};
  const unusable: string[] = [];
  const issues: Reason[] = [];
  for (const spec of config.fields) {
    const result = normaliseExtraValue(rawExtraValue(raw, spec.lucca), spec.type);
    if (result.ok) {
      extra[spec.key] = result.value;
    } else {
      extra[spec.key] = null;
      unusable.push(spec.key);
      issues.push(
        reason(
          'invalid-value',
          `extra field ${spec.key} is not a valid ${spec.type}; not synced, the profile keeps its value`,
        ),
      );
    }
  }
  for (const key of config.cleared) if (!Object.hasOwn(extra, key)) extra[key] = null;
  return {
    ...user,
    issues: [...user.issues, ...issues],
    extra,
    ...(unusable.length > 0 ? { unusableExtra: unusable } : {}),
  };
}
