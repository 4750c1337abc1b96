// The v3 query language of `GET /api/v3/users`, as pure functions: parse the query string once
// (a bad one is a `BadRequestError`, i.e. a 400), then run it over a tenant's users.
import { CONTRACT_HISTORY_FIELD, isFormerOn, isFutureOn, userAsOf, type LuccaRawUser } from './dataset';
import { comparableDateTime, datePart } from './dates';
import { visibleExtendedData } from './hr-file';

export class BadRequestError extends Error {}

export const MAX_PAGE_SIZE = 1000;

/** What the API key may see. */
export interface Visibility {
  today: string;
  seeFormer: boolean;
  seeFuture: boolean;
  seeBirthDates: boolean;
  /** How a field the key may not see comes back: null (default), or left out of the user. */
  withheld: 'null' | 'omitted';
  /** HR-file sections the key's role may consult ("Consult HR files"): custom fields of others are left out. */
  hrSections: ReadonlySet<string>;
}

export interface ServeContext extends Visibility {
  /** Base URL of the tenant as the client reached it, for the `url` field. */
  baseUrl: string;
  /** The name the tenant gives `modifiedAt` (default that one); the other name is unknown to it. */
  modifiedField?: 'modifiedAt' | 'modifiedOn';
}

type FieldKind = 'int' | 'string' | 'date' | 'dateTime';
type Predicate = (value: unknown) => boolean;

/** The stored fields every user has, keyed by lower case because Lucca matches names case-insensitively. */
const STANDARD_FIELDS = new Map<string, { name: keyof LuccaRawUser & string; kind: FieldKind }>(
  (
    [
      ['id', 'int'],
      ['firstName', 'string'],
      ['lastName', 'string'],
      ['mail', 'string'],
      ['birthDate', 'date'],
      ['dtContractStart', 'date'],
      ['dtContractEnd', 'date'],
      ['modifiedAt', 'dateTime'],
      ['legalEntityId', 'int'],
      ['departmentId', 'int'],
    ] as const
  ).map(([name, kind]) => [name.toLowerCase(), { name, kind }]),
);

/**
 * The organisation objects every user has (null when it has none), with the API path their `url`
 * points at. Keyed by lower case, like STANDARD_FIELDS.
 */
const ORGANISATION_OBJECTS = new Map<string, { name: keyof LuccaRawUser & string; urlPath: string }>([
  ['legalentity', { name: 'legalEntity', urlPath: 'legalentities' }],
  ['department', { name: 'department', urlPath: 'departments' }],
]);

/** The filters a tenant set to ignore them drops, as a tenant that does not support them would. */
export const ORGANISATION_FILTERS: ReadonlySet<string> = new Set(['legalentityid', 'departmentid']);

/** The modification filter, under either of its names, which a tenant may be set to ignore. */
export const MODIFIED_FILTERS: ReadonlySet<string> = new Set(['modifiedat', 'modifiedon']);

/**
 * A field or filter name as a tenant calling the modification time `modifiedField` reads it:
 * its own name stands for the stored `modifiedAt`, the other name is unknown (null).
 */
function modifiedName(name: string, modifiedField: 'modifiedAt' | 'modifiedOn' | undefined): string | null {
  if (modifiedField !== 'modifiedOn') return name === 'modifiedon' ? null : name;
  if (name === 'modifiedat') return null;
  return name === 'modifiedon' ? 'modifiedat' : name;
}

/** One entry of `fields=`: a lower-case name, and the sub-fields asked of an object (null: all of it). */
export interface FieldSelection {
  name: string;
  sub: string[] | null;
}

const DEFAULT_FIELDS: FieldSelection[] = ['id', 'name', 'url'].map((name) => ({ name, sub: null }));
const COUNT_FIELD = 'collection.count';
const HIDDEN_FIELDS = new Set([CONTRACT_HISTORY_FIELD.toLowerCase()]);
const RESERVED_PARAMS = new Set(['fields', 'paging', 'orderby', 'formeremployees']);

export interface ListQuery {
  /** In request order, `collection.count` excluded. */
  fields: FieldSelection[];
  withCount: boolean;
  offset: number;
  limit: number;
  includeFormer: boolean;
  filters: { field: string; matches: Predicate }[];
  order: { field: string; direction: 1 | -1 }[];
}

/** Query parameter names are case-insensitive, like field names. */
export function queryParam(query: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  const key = Object.keys(query).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : query[key];
}

/** The `paging` offset for fault rules and page hooks, which must not fail on a malformed query. */
export function pagingOffsetOf(query: Record<string, string>): number | null {
  try {
    return parsePaging(queryParam(query, 'paging')).offset;
  } catch {
    return null;
  }
}

export function parsePaging(value: string | undefined): { offset: number; limit: number } {
  if (value === undefined) return { offset: 0, limit: MAX_PAGE_SIZE };
  const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(value);
  if (!m) throw new BadRequestError(`paging must be <offset>,<limit>, got "${value}"`);
  const offset = Number(m[1]);
  const limit = Number(m[2]);
  if (offset < 0) throw new BadRequestError(`paging offset must be >= 0, got ${offset}`);
  if (limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new BadRequestError(`paging limit must be between 1 and ${MAX_PAGE_SIZE}, got ${limit}`);
  }
  return { offset, limit };
}

/** Splits at top-level commas only, so a nested `department[id,name]` stays one entry. */
function splitFields(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of value) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
}

/**
 * `legalEntity[id,name]` and `legalEntity.name` both ask for part of an object; several entries
 * for one object add up, and the bare name asks for all of it.
 */
function parseSelection(entry: string): FieldSelection {
  const bracket = /^([^[\]]+)\[(.*)\]$/.exec(entry);
  if (bracket) {
    const sub = (bracket[2] ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    return { name: (bracket[1] ?? '').trim(), sub };
  }
  const dot = entry.indexOf('.');
  if (dot > 0) return { name: entry.slice(0, dot), sub: [entry.slice(dot + 1)] };
  return { name: entry, sub: null };
}

export function parseFields(value: string | undefined): { fields: FieldSelection[]; withCount: boolean } {
  const requested = value === undefined ? [] : splitFields(value);
  const withCount = requested.includes(COUNT_FIELD);
  const byName = new Map<string, FieldSelection>();
  for (const entry of requested.filter((f) => f !== COUNT_FIELD)) {
    const { name, sub } = parseSelection(entry);
    const seen = byName.get(name);
    if (!seen) byName.set(name, { name, sub });
    else seen.sub = seen.sub === null || sub === null ? null : [...new Set([...seen.sub, ...sub])];
  }
  const fields = [...byName.values()];
  // `fields=collection.count` alone asks for the total only; no `fields` at all means the defaults.
  return { fields: fields.length === 0 && !withCount ? DEFAULT_FIELDS : fields, withCount };
}

function parseValue(kind: FieldKind, token: string, param: string): unknown {
  switch (kind) {
    case 'int':
      if (!/^-?\d+$/.test(token)) throw new BadRequestError(`${param}: "${token}" is not an integer or operator`);
      return Number(token);
    case 'date': {
      const date = datePart(token);
      if (date === null || comparableDateTime(token) === null) {
        throw new BadRequestError(`${param}: "${token}" is not a date or a known operator`);
      }
      return date;
    }
    case 'dateTime': {
      const at = comparableDateTime(token);
      if (at === null) throw new BadRequestError(`${param}: "${token}" is not a date-time or a known operator`);
      return at;
    }
    case 'string':
      return token.toLowerCase();
  }
}

/** Brings a stored value to the form `parseValue` produced, or null when it cannot be compared. */
function comparable(kind: FieldKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'int':
      return typeof value === 'number' ? value : null;
    case 'date':
      return datePart(value);
    case 'dateTime':
      return comparableDateTime(value);
    case 'string':
      return typeof value === 'string' ? value.toLowerCase() : null;
  }
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * One filter parameter: a comma list of conditions, OR-ed — values (equality), `null`,
 * `notequal,<v>`, `since,<v>`, `until,<v>`, `between,<a>,<b>`, `like,<text>`.
 */
function parseFilter(param: string, kind: FieldKind, raw: string): Predicate {
  const tokens = raw.split(',').map((t) => t.trim());
  const conditions: Predicate[] = [];
  const argument = (i: number, op: string): string => {
    const token = tokens[i];
    if (token === undefined) throw new BadRequestError(`${param}: operator "${op}" needs a value`);
    return token;
  };
  const value = (i: number, op: string): unknown => parseValue(kind, argument(i, op), param);
  const ordered = (op: string): void => {
    if (kind === 'string') throw new BadRequestError(`${param}: operator "${op}" is not supported on text fields`);
  };
  for (let i = 0; i < tokens.length;) {
    const token = tokens[i] as string;
    const op = token.toLowerCase();
    if (op === 'null') {
      conditions.push((v) => v === null);
      i += 1;
    } else if (op === 'notequal') {
      const arg = argument(i + 1, op);
      if (arg.toLowerCase() === 'null') {
        conditions.push((v) => v !== null);
      } else {
        const x = parseValue(kind, arg, param);
        conditions.push((v) => v !== null && compareValues(v, x) !== 0);
      }
      i += 2;
    } else if (op === 'since' || op === 'greaterthanorequal' || op === 'greaterthan') {
      ordered(op);
      const x = value(i + 1, op);
      const strict = op === 'greaterthan';
      conditions.push((v) => v !== null && (strict ? compareValues(v, x) > 0 : compareValues(v, x) >= 0));
      i += 2;
    } else if (op === 'until' || op === 'lessthanorequal' || op === 'lessthan') {
      ordered(op);
      const x = value(i + 1, op);
      const strict = op === 'lessthan';
      conditions.push((v) => v !== null && (strict ? compareValues(v, x) < 0 : compareValues(v, x) <= 0));
      i += 2;
    } else if (op === 'between') {
      ordered(op);
      const a = value(i + 1, op);
      const b = value(i + 2, op);
      conditions.push((v) => v !== null && compareValues(v, a) >= 0 && compareValues(v, b) <= 0);
      i += 3;
    } else if (op === 'like') {
      if (kind !== 'string') throw new BadRequestError(`${param}: operator "like" is only for text fields`);
      const needle = argument(i + 1, op).toLowerCase();
      conditions.push((v) => typeof v === 'string' && v.includes(needle));
      i += 2;
    } else {
      const x = parseValue(kind, token, param);
      conditions.push((v) => v !== null && compareValues(v, x) === 0);
      i += 1;
    }
  }
  return (stored) => {
    const v = comparable(kind, stored);
    return conditions.some((c) => c(v));
  };
}

function parseOrder(value: string | undefined): ListQuery['order'] {
  if (value === undefined || value.trim() === '') return [];
  const tokens = value.split(',').map((t) => t.trim());
  const order: ListQuery['order'] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    const field = STANDARD_FIELDS.get((tokens[i] ?? '').toLowerCase());
    if (!field) throw new BadRequestError(`orderBy: unknown field "${tokens[i]}"`);
    const direction = (tokens[i + 1] ?? '').toLowerCase();
    if (direction !== 'asc' && direction !== 'desc') {
      throw new BadRequestError(`orderBy: direction must be asc or desc, got "${tokens[i + 1] ?? ''}"`);
    }
    order.push({ field: field.name, direction: direction === 'asc' ? 1 : -1 });
  }
  return order;
}

/** `ignoredFilters`: lower-case parameter names dropped unread, e.g. ORGANISATION_FILTERS. */
export function parseListQuery(
  query: Record<string, string>,
  opts: { ignoredFilters?: ReadonlySet<string>; modifiedField?: 'modifiedAt' | 'modifiedOn' } = {},
): ListQuery {
  const { fields, withCount } = parseFields(queryParam(query, 'fields'));
  const { offset, limit } = parsePaging(queryParam(query, 'paging'));
  const filters: ListQuery['filters'] = [];
  let explicitEndFilter = false;
  for (const [param, raw] of Object.entries(query)) {
    const key = param.toLowerCase();
    if (RESERVED_PARAMS.has(key) || opts.ignoredFilters?.has(key)) continue;
    const known = modifiedName(key, opts.modifiedField);
    const field = known === null ? undefined : STANDARD_FIELDS.get(known);
    // Unknown parameters are ignored, as the generic v3 framework does with anything it does not bind.
    if (!field) continue;
    filters.push({ field: field.name, matches: parseFilter(param, field.kind, raw) });
    if (field.name === 'dtContractEnd') explicitEndFilter = true;
  }
  return {
    fields,
    withCount,
    offset,
    limit,
    includeFormer: queryParam(query, 'formerEmployees')?.toLowerCase() === 'true' || explicitEndFilter,
    filters,
    order: parseOrder(queryParam(query, 'orderBy')),
  };
}

const TEXT_FIELDS = new Set(['firstName', 'lastName', 'mail']);
const nameCollator = new Intl.Collator('fr', { sensitivity: 'base' });
const compareText = (a: unknown, b: unknown): number =>
  typeof a === 'string' && typeof b === 'string' ? nameCollator.compare(a, b) : compareValues(a, b);

function isSortedById(users: readonly LuccaRawUser[]): boolean {
  for (let i = 1; i < users.length; i++)
    if ((users[i] as LuccaRawUser).id < (users[i - 1] as LuccaRawUser).id) return false;
  return true;
}

function sortUsers(users: LuccaRawUser[], order: ListQuery['order']): LuccaRawUser[] {
  const keys = [...order, { field: 'id', direction: 1 as const }].map((k) => ({
    ...k,
    compare: TEXT_FIELDS.has(k.field) ? compareText : compareValues,
  }));
  // Datasets are usually stored by id: reading one page by page should not cost a sort per page.
  if (keys[0]?.field === 'id' && keys[0].direction === 1 && isSortedById(users)) return users;
  return users.sort((a, b) => {
    for (const { field, direction, compare } of keys) {
      const x = a[field];
      const y = b[field];
      if (x === y) continue;
      // Nulls first, as SQL Server sorts them ascending.
      if (x === null || x === undefined) return -direction;
      if (y === null || y === undefined) return direction;
      const c = compare(x, y);
      if (c !== 0) return c * direction;
    }
    return 0;
  });
}

/** Whether the key may see this user at all (permissions decide, not query parameters). */
export function isVisible(user: LuccaRawUser, visibility: Visibility): boolean {
  if (!visibility.seeFormer && isFormerOn(user, visibility.today)) return false;
  if (!visibility.seeFuture && isFutureOn(user, visibility.today)) return false;
  return true;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An object field as asked: all of it, or the named sub-fields (unknown ones dropped). An
 * organisation object gets the `url` Lucca adds; anything that is not an object goes out verbatim.
 */
function projectObject(value: unknown, sub: string[] | null, url: string | null): unknown {
  if (!isPlainObject(value)) return value;
  if (sub === null) return url === null || 'url' in value ? value : { ...value, url };
  const out: Record<string, unknown> = {};
  for (const name of sub) {
    const key = Object.keys(value).find((k) => k.toLowerCase() === name);
    if (key !== undefined) out[key] = value[key];
    else if (name === 'url' && url !== null) out.url = url;
  }
  return out;
}

export function projectUser(
  user: LuccaRawUser,
  fields: readonly FieldSelection[],
  ctx: ServeContext,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name: field, sub } of fields) {
    if (field === 'name') {
      out.name = [user.firstName, user.lastName].filter((p) => typeof p === 'string' && p !== '').join(' ');
    } else if (field === 'url') {
      out.url = `${ctx.baseUrl}/api/v3/users/${user.id}`;
    } else if (field === 'modifiedat' || field === 'modifiedon') {
      const known = modifiedName(field, ctx.modifiedField);
      if (known !== null) out[ctx.modifiedField ?? 'modifiedAt'] = user.modifiedAt;
    } else if (!HIDDEN_FIELDS.has(field)) {
      const organisation = ORGANISATION_OBJECTS.get(field);
      const standard = STANDARD_FIELDS.get(field)?.name ?? organisation?.name;
      const key = Object.keys(user).find((k) => k.toLowerCase() === field) ?? standard;
      // Unknown names are dropped silently, like Lucca does.
      if (key === undefined) continue;
      if (key === 'birthDate' && !ctx.seeBirthDates) {
        if (ctx.withheld === 'null') out[key] = null;
        continue;
      }
      const stored = user[key] ?? null;
      const value = key === 'extendedData' ? visibleExtendedData(stored, ctx.hrSections) : stored;
      const id = isPlainObject(value) ? value.id : undefined;
      const url = organisation && typeof id === 'number' ? `${ctx.baseUrl}/api/v3/${organisation.urlPath}/${id}` : null;
      out[key] = sub === null && url === null ? value : projectObject(value, sub, url);
    }
  }
  return out;
}

/** The `data` block of a list response. */
export function runListQuery(
  users: readonly LuccaRawUser[],
  q: ListQuery,
  ctx: ServeContext,
): { items?: Record<string, unknown>[]; count?: number } {
  const matching = users
    .map((u) => userAsOf(u, ctx.today))
    .filter((u) => isVisible(u, ctx))
    .filter((u) => q.includeFormer || !isFormerOn(u, ctx.today))
    .filter((u) => q.filters.every((f) => f.matches(u[f.field])));
  const data: { items?: Record<string, unknown>[]; count?: number } = {};
  if (q.withCount) data.count = matching.length;
  if (q.fields.length > 0) {
    data.items = sortUsers(matching, q.order)
      .slice(q.offset, q.offset + q.limit)
      .map((u) => projectUser(u, q.fields, ctx));
  }
  return data;
}

/** The `data` block of `GET /api/v3/users/{id}`, or null for a 404. */
export function runGetQuery(
  users: readonly LuccaRawUser[],
  id: number,
  query: Record<string, string>,
  ctx: ServeContext,
): Record<string, unknown> | null {
  const stored = users.find((u) => u.id === id);
  if (!stored) return null;
  const user = userAsOf(stored, ctx.today);
  if (!isVisible(user, ctx)) return null;
  const { fields } = parseFields(queryParam(query, 'fields'));
  return projectUser(user, fields.length > 0 ? fields : DEFAULT_FIELDS, ctx);
}
