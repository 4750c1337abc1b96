import { z } from 'zod';
import type { LuccaFailureCode } from '../domain/failures';
import {
  ABSENT,
  extraRequestFields,
  isCustomField,
  rawExtraValue,
  STANDARD_EXTRA_FIELDS,
  type ExtraFieldSpec,
} from '../domain/extra-fields';
import {
  errorForStatus,
  LuccaAuthError,
  LuccaError,
  LuccaHiddenFieldError,
  LuccaMissingFieldError,
  LuccaNotLuccaError,
  LuccaRateLimitedError,
  LuccaTooLargeError,
  LuccaTransientError,
  LuccaUnreachableError,
} from './errors';
import { limiterFor, sleep, type LuccaRequestBudget } from './rate-limiter';
import {
  luccaUserOrganisation,
  MAX_SCOPE_FILTER_CHARS,
  normaliseLuccaScope,
  scopeFilterQuery,
  splitByScope,
  tallyOrganisation,
  type LuccaOrganisation,
  type LuccaOutOfScopeUser,
  type LuccaScope,
  type LuccaUserOrganisation,
} from './scope';
import { normaliseLuccaBaseUrl } from './urls';

export { isAllowedLuccaUrl, isValidAllowedHostEntry, normaliseLuccaBaseUrl } from './urls';
export {
  countUsersInScopes,
  luccaUserOrganisation,
  MAX_SCOPE_FILTER_CHARS,
  type LuccaOrganisation,
  type LuccaOrgUnit,
  type LuccaOrgUnitCount,
  type LuccaOutOfScopeUser,
  type LuccaScope,
  type LuccaUserOrganisation,
} from './scope';

/** Without an explicit `fields=` list the v3 API returns only `id,name,url`. */
export const LUCCA_USER_FIELDS = [
  'id',
  'firstName',
  'lastName',
  'mail',
  'birthDate',
  'dtContractStart',
  'dtContractEnd',
  'modifiedAt',
] as const;

/**
 * Fields a page must carry: a key whose role lost a permission gets users without the field, which
 * read as null would blank it for everyone. `modifiedAt` is informative (some versions say
 * `modifiedOn`).
 */
const REQUIRED_USER_FIELDS = LUCCA_USER_FIELDS.filter((f) => f !== 'modifiedAt');

/**
 * What a read adds to each user with `organisation` (or a scope): `legalEntity` and `department`,
 * each `{id, name}`. Lucca serves them from the user's applicable contract.
 */
export const LUCCA_ORGANISATION_FIELDS = ['legalEntity[id,name]', 'department[id,name]'] as const;

/** The keys those fields come back under, required like the others: a role that lost them must not read as "nowhere". */
const ORGANISATION_KEYS = ['legalEntity', 'department'] as const;

/** What one users read asks for besides the sync's fields. */
export interface LuccaUsersReadOptions {
  /** Also read each user's `legalEntity` and `department` ({id, name}). Implied by a scope. */
  organisation?: boolean;
  /**
   * Only users inside it: Lucca is asked to filter (`legalEntityId=`, `departmentId=`) and every
   * user is checked again here, so a tenant that ignores the filter leaks nobody. Ids that cannot
   * be Lucca's are a RangeError.
   */
  scope?: LuccaScope;
  /**
   * Only users modified since `since` (a Lucca date-time, `YYYY-MM-DDTHH:MM:SS`), as Lucca is asked
   * (`<field>=since,<since>`); `field` is the name the tenant gives the modification time. Lucca may
   * ignore it: the caller checks what came back (`modifiedTimeOf`).
   */
  modifiedSince?: { field: LuccaModifiedField; since: string };
  /**
   * Only these users (`id=…`, one request's worth: at most `MAX_SCOPE_FILTER_CHARS`), checked again
   * here, so a tenant that ignores the filter hands over nobody else.
   */
  ids?: readonly number[];
  /**
   * Check the scope here only, without asking Lucca to filter on it: a read of the users modified
   * since a time then also returns those who moved out of the scope (in `outOfScope`), which a
   * filtered read would not show.
   */
  scopeCheckedHereOnly?: boolean;
  /**
   * The company's extra fields, asked with the rest (`extendedData[e_…]` for custom ones): a field
   * missing from every user of a page is a `LuccaHiddenFieldError` naming it, never a blank.
   */
  extras?: readonly ExtraFieldSpec[];
}

/** The names Lucca versions give a user's modification time. */
export type LuccaModifiedField = 'modifiedAt' | 'modifiedOn';

/**
 * A raw user's modification time as Lucca sent it (`modifiedAt`, or `modifiedOn` on some versions),
 * brought to `YYYY-MM-DDTHH:MM:SS.fff` for comparison, and the name it came under; null when absent
 * or unreadable.
 */
export function modifiedTimeOf(raw: unknown): { field: LuccaModifiedField; at: string } | null {
  if (typeof raw !== 'object' || raw === null) return null;
  for (const field of ['modifiedAt', 'modifiedOn'] as const) {
    const value = (raw as Record<string, unknown>)[field];
    const m =
      typeof value === 'string' ? /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?/.exec(value) : null;
    if (m) return { field, at: `${m[1]}T${m[2]}:${m[3] ?? '00'}.${(m[4] ?? '').padEnd(3, '0').slice(0, 3)}` };
  }
  return null;
}

/** The largest page the v3 API serves. */
export const LUCCA_PAGE_SIZE = 1000;

/**
 * The most bytes one Lucca answer may take (LUCCA_MAX_PAGE_BYTES by default). A page of 1,000 users
 * is 0.23 MB with the sync's eight fields and 0.85 MB with ten more (measured on the fake Lucca; a
 * unit test keeps this default at least ten times above the latter): room for richer pages, while a
 * runaway answer costs the worker a few tens of megabytes instead of its heap and every company on it.
 */
export const DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024;

export interface LuccaClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Per request, including reading the body. Default 30 000 ms. */
  timeoutMs?: number;
  /** The most bytes an answer may take: refused on its Content-Length, or stopped as it streams past. */
  maxPageBytes?: number;
  /**
   * Default: the process-wide limiter of this tenant. Workers and commands pass the tenant's budget
   * shared through the store (`SharedLuccaBudget`). `null` disables limiting.
   */
  limiter?: LuccaRequestBudget | null;
  /** How many 429s in a row are waited out before giving up. Default 10. */
  maxRateLimitWaits?: number;
  /** A 429 asking for a longer wait than this is thrown at once, for the caller to reschedule. Default 120 000 ms. */
  maxRateLimitWaitMs?: number;
  /** Users per page of `usersPages`. Default and maximum: 1000. */
  pageSize?: number;
  /** Told how each HTTP request ended (the worker counts them in its metrics). */
  onRequest?: (outcome: LuccaRequestOutcome) => void;
}

/**
 * How one request to Lucca ended: `ok` (a JSON answer), the failure code of its error
 * (`lucca-rate-limited` for a 429, `lucca-unavailable` for a 5xx or a timeout…), or `aborted` (the
 * run was cancelled or stalled mid-request).
 */
export type LuccaRequestOutcome = 'ok' | LuccaFailureCode | 'aborted';

export interface LuccaUsersPage {
  offset: number;
  limit: number;
  /**
   * Raw, unvalidated items: the mapper owns validation (and `modifiedOn` vs `modifiedAt`). With a
   * scope, only the users inside it.
   */
  items: unknown[];
  /** Users Lucca sent that the scope check dropped (empty without a scope); non-empty when Lucca ignored the filter. */
  outOfScope: LuccaOutOfScopeUser[];
  /** Lucca gives no next link or total: a page shorter than asked is the last one (counted before the scope check). */
  isLast: boolean;
  /** The name Lucca gives the API key (`header.principal`), when it sends a header. */
  principal: string | null;
}

/** Where a paged read of the users stands: a checkpoint made of offsets and ids only. */
export interface UsersPagingPosition {
  /** Pages read so far (the next page's number). */
  page: number;
  /** Offset of the first user not read yet. */
  offset: number;
  /** Lucca id of the last user read, checked again at the start of the next page. */
  lastId: number | null;
  /** Users were deleted under the read: someone may have been skipped. */
  moved: boolean;
}

export const START_OF_USERS: UsersPagingPosition = { page: 0, offset: 0, lastId: null, moved: false };

/** One page of a paged read, its overlap with the previous page removed. */
export interface LuccaUsersRead {
  /** With a scope, only the users inside it. */
  items: unknown[];
  /** Users Lucca sent that the scope check dropped (empty without a scope). */
  outOfScope: LuccaOutOfScopeUser[];
  /** This page's number in the read, from 0. */
  page: number;
  /** The offset asked of Lucca (one before the previous page's end when overlapping). */
  requestOffset: number;
  isLast: boolean;
  /** The checkpoint to resume from after this page. */
  next: UsersPagingPosition;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RATE_LIMIT_WAITS = 10;
const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 120_000;
const BACKOFF_START_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;

const usersEnvelope = z.object({
  header: z
    .object({ principal: z.string().nullish().catch(null) })
    .nullish()
    .catch(null),
  data: z.object({ items: z.array(z.unknown()) }),
});

type Outcome = { kind: 'json'; body: unknown } | { kind: 'rate-limited'; error: LuccaRateLimitedError };

/** One kind of users read: the fields asked, those a page must carry, and Lucca-side filters. */
interface UsersQuery {
  fields: readonly string[];
  required: readonly string[];
  /** Extra fields a page must carry (checked where Lucca puts them: custom ones in `extendedData`). */
  extras?: readonly ExtraFieldSpec[];
  /** `&name=value…`, or ''. */
  filters: string;
}

const SYNC_QUERY: UsersQuery = { fields: LUCCA_USER_FIELDS, required: REQUIRED_USER_FIELDS, filters: '' };

/** The cheapest read that still counts every user where it sits. */
const ORGANISATION_QUERY: UsersQuery = {
  fields: ['id', ...LUCCA_ORGANISATION_FIELDS],
  required: ORGANISATION_KEYS,
  filters: '',
};

/**
 * Requests a lookup by id may take (see `locateUsers`) before one read of the whole tenant's
 * places is cheaper for a tenant of 10,000 or more: a lookup asks about 100 ids a request
 * (MAX_SCOPE_FILTER_CHARS), that read 1,000 users.
 */
export const MAX_LOCATE_REQUESTS = 10;

/** Ids in lists that each fit an `id=` filter of MAX_SCOPE_FILTER_CHARS. */
function idChunks(ids: readonly number[]): number[][] {
  const chunks: number[][] = [];
  let chunk: number[] = [];
  let chars = 0;
  for (const id of ids) {
    const text = String(id);
    if (chunk.length > 0 && chars + 1 + text.length > MAX_SCOPE_FILTER_CHARS) {
      chunks.push(chunk);
      chunk = [];
    }
    chars = chunk.length === 0 ? 'id='.length + text.length : chars + 1 + text.length;
    chunk.push(id);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function queryFor(read: LuccaUsersReadOptions | undefined): {
  query: UsersQuery;
  scope: ReturnType<typeof normaliseLuccaScope>;
} {
  const scope = normaliseLuccaScope(read?.scope);
  const narrowed = narrowingFilters(read);
  const extras = read?.extras ?? [];
  if (!read?.organisation && scope === null && narrowed.filters === '' && extras.length === 0) {
    return { query: SYNC_QUERY, scope };
  }
  const organisation = read?.organisation || scope !== null;
  const base = [...LUCCA_USER_FIELDS, ...narrowed.fields, ...(organisation ? LUCCA_ORGANISATION_FIELDS : [])];
  return {
    query: {
      // An extra asked the way the organisation is already asked (`department[id,name]`) is asked once.
      fields: [...new Set([...base, ...extraRequestFields(extras)])],
      required: [...REQUIRED_USER_FIELDS, ...(organisation ? ORGANISATION_KEYS : [])],
      filters: (scope === null || read?.scopeCheckedHereOnly ? '' : scopeFilterQuery(scope)) + narrowed.filters,
      extras,
    },
    scope,
  };
}

/** The filters (and fields) of an incremental or one-user read; '' for neither. */
function narrowingFilters(read: LuccaUsersReadOptions | undefined): { filters: string; fields: string[] } {
  let filters = '';
  const fields: string[] = [];
  const modified = read?.modifiedSince;
  if (modified) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(modified.since)) {
      throw new RangeError(`modifiedSince must be YYYY-MM-DDTHH:MM:SS, got "${modified.since}"`);
    }
    filters += `&${modified.field}=since,${modified.since}`;
    if (modified.field !== 'modifiedAt') fields.push(modified.field);
  }
  if (read?.ids) {
    const ids = [...new Set(read.ids)];
    if (ids.length === 0 || ids.some((id) => !Number.isSafeInteger(id) || id < 0)) {
      throw new RangeError('ids must be Lucca user ids (non-negative integers), at least one');
    }
    const list = `id=${ids.join(',')}`;
    if (list.length > MAX_SCOPE_FILTER_CHARS) {
      throw new RangeError(
        `${ids.length} ids take more than one request's filter (${MAX_SCOPE_FILTER_CHARS} characters)`,
      );
    }
    filters += `&${list}`;
  }
  return { filters, fields };
}

function withScope<T extends { items: unknown[] }>(
  page: T,
  scope: ReturnType<typeof normaliseLuccaScope>,
): T & { outOfScope: LuccaOutOfScopeUser[] } {
  return scope === null ? { ...page, outOfScope: [] } : { ...page, ...splitByScope(page.items, scope) };
}

export class LuccaClient {
  readonly baseUrl: string;
  readonly host: string;
  readonly #authorization: string;
  readonly #timeoutMs: number;
  readonly #maxPageBytes: number;
  readonly #limiter: LuccaRequestBudget | null;
  readonly #maxRateLimitWaits: number;
  readonly #maxRateLimitWaitMs: number;
  readonly #pageSize: number;
  readonly #onRequest: ((outcome: LuccaRequestOutcome) => void) | undefined;

  constructor(opts: LuccaClientOptions) {
    this.baseUrl = normaliseLuccaBaseUrl(opts.baseUrl);
    this.host = new URL(this.baseUrl).host;
    const apiKey = opts.apiKey.trim();
    // Checked here because fetch would reject such a header with an error that quotes its value.
    if (!/^[\x21-\x7e]+$/.test(apiKey)) {
      throw new LuccaAuthError(
        apiKey === ''
          ? 'No Lucca API key was given.'
          : 'The Lucca API key contains characters an HTTP header cannot carry ' +
              '(a Lucca key looks like 3F2504E0-4F89-11D3-9A0C-0305E82C3301). Check how it was copied.',
      );
    }
    this.#authorization = `lucca application=${apiKey}`;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.#timeoutMs}`);
    this.#maxPageBytes = opts.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
    if (!(Number.isSafeInteger(this.#maxPageBytes) && this.#maxPageBytes > 0)) {
      throw new RangeError(`maxPageBytes must be a positive integer, got ${this.#maxPageBytes}`);
    }
    this.#limiter = opts.limiter === undefined ? limiterFor(this.baseUrl) : opts.limiter;
    this.#maxRateLimitWaits = opts.maxRateLimitWaits ?? DEFAULT_MAX_RATE_LIMIT_WAITS;
    this.#maxRateLimitWaitMs = opts.maxRateLimitWaitMs ?? DEFAULT_MAX_RATE_LIMIT_WAIT_MS;
    this.#pageSize = opts.pageSize ?? LUCCA_PAGE_SIZE;
    this.#onRequest = opts.onRequest;
  }

  /** One page of the users directory, leavers included, in a stable order. */
  async fetchUsersPage(
    offset: number,
    limit: number = LUCCA_PAGE_SIZE,
    signal?: AbortSignal,
    read?: LuccaUsersReadOptions,
  ): Promise<LuccaUsersPage> {
    const { query, scope } = queryFor(read);
    return withScope(await this.#fetchPage(offset, limit, query, signal), scope);
  }

  async #fetchPage(
    offset: number,
    limit: number,
    what: UsersQuery,
    signal: AbortSignal | undefined,
  ): Promise<Omit<LuccaUsersPage, 'outOfScope'>> {
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be an integer ≥ 0, got ${offset}`);
    if (!Number.isInteger(limit) || limit < 1 || limit > LUCCA_PAGE_SIZE) {
      throw new RangeError(`limit must be an integer in 1..${LUCCA_PAGE_SIZE}, got ${limit}`);
    }
    // Literal commas, as in Lucca's documentation; `formerEmployees=true` because leavers are
    // excluded by default and would otherwise look deleted.
    const query =
      `formerEmployees=true&fields=${what.fields.join(',')}${what.filters}` +
      `&orderBy=id,asc&paging=${offset},${limit}`;
    const body = await this.#get(`/api/v3/users?${query}`, signal);
    const parsed = usersEnvelope.safeParse(body);
    if (!parsed.success) {
      throw new LuccaNotLuccaError(
        `${this.host} answered JSON without Lucca's data.items list. Check that it is a Lucca domain (https://<account>.ilucca.net).`,
      );
    }
    const items = parsed.data.data.items;
    if (items.length > limit) {
      // Paging was ignored: looping on pages would never see a short page and never end.
      throw new LuccaNotLuccaError(`${this.host} returned ${items.length} users for a page of ${limit}.`);
    }
    const missing = what.required.filter(
      (field) =>
        items.length > 0 && items.every((item) => typeof item !== 'object' || item === null || !(field in item)),
    );
    if (missing.length > 0) {
      throw new LuccaMissingFieldError(
        `${this.host} answered without ${missing.join(', ')} for every user of the page at offset ${offset}: ` +
          `the API key's role most likely lost the permission to read ${missing.length > 1 ? 'them' : 'it'}. ` +
          `Nothing was changed. Ask the company's Lucca admin to restore it, then sync again.`,
      );
    }
    const hidden = (what.extras ?? []).filter(
      (spec) => items.length > 0 && items.every((item) => rawExtraValue(item, spec.lucca) === ABSENT),
    );
    if (hidden.length > 0) {
      const names = hidden.map((s) => s.lucca).join(', ');
      throw new LuccaHiddenFieldError(
        `${this.host} answered without the extra field${hidden.length > 1 ? 's' : ''} ${names} for every user of the page ` +
          `at offset ${offset}: the API key cannot see ${hidden.length > 1 ? 'them' : 'it'}. In Lucca, give the key's role ` +
          `"Consult HR files" on the section holding ${hidden.length > 1 ? 'them' : 'it'} (or remove ${hidden.length > 1 ? 'them' : 'it'} ` +
          `from the company's extra fields), then sync again. Nothing was changed.`,
      );
    }
    return { offset, limit, items, isLast: items.length < limit, principal: parsed.data.header?.principal ?? null };
  }

  /**
   * The users directory page by page from `from`, leavers included, until a short page.
   *
   * Each page after the first starts one user early, on the last user already read: if that user
   * is not where it was, the data moved under offset paging. Users inserted before the offset only
   * repeat users (the planner keeps each id once); users deleted before it make the next users
   * slide back unseen, so `moved` turns true and the caller must not call anyone removed.
   * `from` is a checkpoint an earlier read yielded: a retried read resumes where it stopped.
   */
  async *usersPages(
    from: UsersPagingPosition = START_OF_USERS,
    signal?: AbortSignal,
    read?: LuccaUsersReadOptions,
  ): AsyncGenerator<LuccaUsersRead> {
    const { query, scope } = queryFor(read);
    const asked = read?.ids ? new Set(read.ids) : null;
    // The overlap check runs on what Lucca sent, before the scope check drops anyone.
    for await (const page of this.#pages(from, query, signal)) {
      // A tenant that ignores `id=` answers everyone: only the users asked for go on.
      const items = asked ? page.items.filter((item) => asked.has(luccaIdOf(item) ?? -1)) : page.items;
      yield withScope({ ...page, items }, scope);
    }
  }

  /**
   * The extra fields this key can read, from one page of users (up to 1,000, one request): each
   * standard field of the known list and each custom field `extendedData` holds, with how many
   * users of the page have a value. Values are counted here and never returned.
   */
  async sampleExtraFields(signal?: AbortSignal): Promise<{ users: number; fields: Map<string, number> }> {
    const query: UsersQuery = {
      fields: ['id', ...Object.values(STANDARD_EXTRA_FIELDS).map((f) => f.request), 'extendedData'],
      required: ['id'],
      filters: '',
    };
    const page = await this.#fetchPage(0, this.#pageSize, query, signal);
    const fields = new Map<string, number>();
    const count = (name: string, value: unknown) =>
      fields.set(name, (fields.get(name) ?? 0) + (value === null || value === undefined || value === '' ? 0 : 1));
    for (const item of page.items) {
      if (typeof item !== 'object' || item === null) continue;
      for (const name of Object.keys(STANDARD_EXTRA_FIELDS)) {
        const value = rawExtraValue(item, name);
        if (value !== ABSENT) count(name, value);
      }
      const extended = (item as { extendedData?: unknown }).extendedData;
      if (typeof extended === 'object' && extended !== null) {
        for (const [name, value] of Object.entries(extended)) if (isCustomField(name)) count(name, value);
      }
    }
    return { users: page.items.length, fields };
  }

  /**
   * The tenant's legal entities and departments with their names and user counts, for choosing a
   * company's scope. Lucca documents no listing of them for an API key, so this is one paged read
   * of the users with only `id` and the two organisation objects, paged like the sync's read: 101
   * requests for 100,000 users (two minutes of the tenant's 50 a minute), about 130 bytes a user
   * (0.13 MB a page of 1,000 on the fake Lucca, against 0.23 MB for the sync's fields).
   */
  async readOrganisation(signal?: AbortSignal): Promise<LuccaOrganisation> {
    // By id: a user read twice (the overlap, or users inserted under the read) counts once, where last seen.
    const places = new Map<number, LuccaUserOrganisation>();
    let moved = false;
    for await (const page of this.#pages(START_OF_USERS, ORGANISATION_QUERY, signal)) {
      for (const item of page.items) {
        const id = luccaIdOf(item);
        if (id !== null) places.set(id, luccaUserOrganisation(item));
      }
      moved = page.next.moved;
    }
    return tallyOrganisation(places.values(), moved);
  }

  /**
   * Where Lucca has each of the users `ids` now (their legal entity and department), whatever any
   * scope: what tells a user who left a company's scope from one removed from Lucca. Asked by id
   * (`id=…`, leavers included), a list short enough for a URL per request, each answer checked:
   * an id not asked means the tenant ignored the filter, and then — as when the ids would take
   * more than `MAX_LOCATE_REQUESTS` requests — one paged read of the whole tenant's places answers
   * instead. At most `MAX_LOCATE_REQUESTS` requests, or that read. An id absent from the answer is
   * not in Lucca. Ids and places only: nothing else of anyone is asked.
   */
  async locateUsers(
    ids: readonly number[],
    signal?: AbortSignal,
    progress?: (requests: number) => void,
  ): Promise<Map<number, LuccaUserOrganisation>> {
    const wanted = new Set(ids);
    const found = new Map<number, LuccaUserOrganisation>();
    const chunks = idChunks([...wanted].sort((a, b) => a - b));
    let requests = 0;
    if (chunks.length <= MAX_LOCATE_REQUESTS) {
      let ignored = false;
      for (const chunk of chunks) {
        const page = await this.#fetchPage(
          0,
          LUCCA_PAGE_SIZE,
          { ...ORGANISATION_QUERY, filters: `&id=${chunk.join(',')}` },
          signal,
        );
        progress?.(++requests);
        const asked = new Set(chunk);
        if (page.items.some((item) => !asked.has(luccaIdOf(item) ?? -1))) {
          ignored = true;
          break;
        }
        for (const item of page.items) found.set(luccaIdOf(item)!, luccaUserOrganisation(item));
      }
      if (!ignored) return found;
      found.clear();
    }
    for await (const page of this.#pages(START_OF_USERS, ORGANISATION_QUERY, signal)) {
      progress?.(++requests);
      for (const item of page.items) {
        const id = luccaIdOf(item);
        if (id !== null && wanted.has(id)) found.set(id, luccaUserOrganisation(item));
      }
    }
    return found;
  }

  async *#pages(
    from: UsersPagingPosition,
    what: UsersQuery,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Omit<LuccaUsersRead, 'outOfScope'>> {
    let { offset, lastId, moved } = from;
    let page = from.page;
    for (;;) {
      const overlap = lastId !== null && offset > 0;
      const requestOffset = overlap ? offset - 1 : offset;
      const read = await this.#fetchPage(requestOffset, this.#pageSize, what, signal);
      let items = read.items;
      if (overlap) {
        const firstId = luccaIdOf(items[0]);
        if (firstId === lastId) items = items.slice(1);
        else if (firstId === null || firstId > lastId!) moved = true;
      }
      offset = requestOffset + read.items.length;
      lastId = luccaIdOf(read.items[read.items.length - 1]) ?? lastId;
      yield { items, page, requestOffset, isLast: read.isLast, next: { page: page + 1, offset, lastId, moved } };
      page += 1;
      if (read.isLast) return;
    }
  }

  /** One cheap real call, used by onboarding to check the domain and the key before storing them. */
  async checkAccess(signal?: AbortSignal): Promise<{ principal: string | null; sample: number }> {
    const page = await this.fetchUsersPage(0, 1, signal);
    return { principal: page.principal, sample: page.items.length };
  }

  async #get(pathAndQuery: string, signal?: AbortSignal): Promise<unknown> {
    const url = `${this.baseUrl}${pathAndQuery}`;
    for (let waits = 0; ; waits++) {
      const ticket = await this.#limiter?.acquire(signal);
      const outcome = await this.#attempt(url, signal)
        .catch((error: unknown) => {
          // Every failure of an attempt is a LuccaError, except the signal's own reason.
          this.#onRequest?.(error instanceof LuccaError ? error.code : 'aborted');
          throw error;
        })
        .finally(() => ticket?.answered());
      this.#onRequest?.(outcome.kind === 'json' ? 'ok' : outcome.error.code);
      if (outcome.kind === 'json') return outcome.body;
      const { error } = outcome;
      const waitMs = error.retryAfterMs ?? Math.min(BACKOFF_START_MS * 2 ** waits, BACKOFF_CAP_MS);
      // Told to the budget even when this request gives up: shared, it holds the tenant's other callers too.
      await this.#limiter?.holdFor(waitMs);
      if (waits >= this.#maxRateLimitWaits || waitMs > this.#maxRateLimitWaitMs) throw error;
      await sleep(waitMs, signal);
    }
  }

  async #attempt(url: string, signal?: AbortSignal): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    // Aborted when the answer passes the byte cap: the connection is dropped, not read to its end.
    const oversize = new AbortController();
    try {
      const response = await fetch(url, {
        headers: { Authorization: this.#authorization, Accept: 'application/json', 'User-Agent': 'lucca-sync' },
        signal: AbortSignal.any([...(signal ? [signal] : []), timeout, oversize.signal]),
        // Never follow a redirect with the key attached; Lucca's API does not redirect.
        redirect: 'manual',
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        const error = errorForStatus(response.status, response.headers.get('retry-after'), { host: this.host });
        if (error instanceof LuccaRateLimitedError) return { kind: 'rate-limited', error };
        throw error;
      }
      const contentType = response.headers.get('content-type') ?? '';
      const text = await this.#readCapped(response, oversize);
      if (
        /html|xml|text\/plain/i.test(contentType) ||
        (!/json/i.test(contentType) && text.trimStart().startsWith('<'))
      ) {
        throw new LuccaNotLuccaError(
          `${this.host} answered with ${contentType || 'a non-JSON page'} instead of JSON. ` +
            'Check that it is a Lucca domain (https://<account>.ilucca.net).',
          response.status,
        );
      }
      try {
        return { kind: 'json', body: JSON.parse(text) as unknown };
      } catch {
        throw new LuccaTransientError(
          `${this.host} sent a truncated or invalid JSON body (${text.length} characters).`,
          response.status,
        );
      }
    } catch (error) {
      if (error instanceof LuccaError) throw error;
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new LuccaTransientError(`${this.host} did not answer within the ${this.#timeoutMs} ms timeout.`);
      }
      throw networkError(error, this.host);
    }
  }

  /**
   * The body as text, never holding more than `maxPageBytes` of it: an announced `Content-Length`
   * above the cap is refused before a byte is read, and a body that streams past it (chunked, or
   * longer than announced) is aborted at that point.
   */
  async #readCapped(response: Response, oversize: AbortController): Promise<string> {
    const cap = this.#maxPageBytes;
    const tooLarge = (what: string) => {
      oversize.abort();
      return new LuccaTooLargeError(
        `Lucca (${this.host}) ${what} larger than the ${formatBytes(cap)} one page of users may take ` +
          '(LUCCA_MAX_PAGE_BYTES); the read was stopped and nothing was changed. A page of 1,000 users is ' +
          'about 1 MB: report this answer to Lucca, and raise LUCCA_MAX_PAGE_BYTES on the workers only if ' +
          "the company's pages really are that large.",
        response.status,
      );
    };
    const announced = Number(response.headers.get('content-length') ?? NaN);
    if (announced > cap) throw tooLarge(`announced an answer of ${formatBytes(announced)},`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
      // fetch's body is a stream of bytes; Node's types leave its chunks untyped.
      const chunk = read.value as Uint8Array;
      size += chunk.byteLength;
      if (size > cap) throw tooLarge('sent an answer');
      chunks.push(chunk);
    }
    // As response.text() decodes: UTF-8, a byte-order mark dropped, bad bytes replaced.
    return new TextDecoder().decode(Buffer.concat(chunks, size));
  }
}

/** A byte count for a message: `512 bytes`, `16 MiB`, `1.5 GiB`. */
function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : Number(value.toFixed(1))} ${units[unit]}`;
}

const UNREACHABLE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * fetch rejects with a bare "fetch failed" TypeError whose `cause` says what happened. Only the
 * cause's code is kept: the message is rebuilt so nothing of the request can leak into it.
 */
function networkError(error: unknown, host: string): LuccaError {
  const code = causeCode(error);
  if (code && UNREACHABLE_CODES.has(code)) {
    const why = code === 'ENOTFOUND' ? 'the domain does not exist' : `connection failed: ${code}`;
    return new LuccaUnreachableError(`Could not reach Lucca at ${host} (${why}). Check the Lucca domain.`);
  }
  if (code && /CERT|TLS|SSL/.test(code)) {
    return new LuccaUnreachableError(`Could not open a secure connection to ${host} (${code}).`);
  }
  // fetch refuses ports browsers block (1, 6000…) before connecting, with a bare "bad port".
  if (!code && /bad port/i.test(String((error as { cause?: { message?: unknown } } | null)?.cause?.message))) {
    return new LuccaUnreachableError(`Could not reach Lucca at ${host} (a port fetch refuses). Check the Lucca URL.`);
  }
  return new LuccaTransientError(`The connection to ${host} failed mid-request (${code ?? 'network error'}).`);
}

function causeCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return undefined;
    const { code, errors, cause } = current as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    // Node's happy-eyeballs connect reports one error per address tried.
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : cause;
  }
  return undefined;
}

function luccaIdOf(raw: unknown): number | null {
  const id = (raw as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
}
