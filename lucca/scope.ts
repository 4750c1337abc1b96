/**
 * A company's part of a Lucca tenant (legal entities and departments, by id), and the one check of
 * a Lucca user against it. Lucca is asked to filter too, but some tenants may not (the filters are
 * not documented on every tenant), so every user read is checked here as well: a tenant that
 * ignores the filter costs a longer read, never a person outside the scope.
 */

/**
 * Which part of a tenant a company covers, by Lucca ids (names change, ids do not). An absent or
 * empty list does not limit; with both lists, a user must be in one of the legal entities AND in
 * one of the departments, as Lucca combines its filters.
 */
export interface LuccaScope {
  legalEntityIds?: readonly number[];
  departmentIds?: readonly number[];
}

/** A legal entity or a department as a Lucca user carries it. */
export interface LuccaOrgUnit {
  id: number;
  /** Null when Lucca sent no usable name; names carry accents and may change. */
  name: string | null;
}

/** Where a Lucca user sits; null where the user has none (or Lucca sent something unusable). */
export interface LuccaUserOrganisation {
  legalEntity: LuccaOrgUnit | null;
  department: LuccaOrgUnit | null;
}

/** A scope with sorted, distinct ids; null when it limits nothing. */
export interface NormalisedLuccaScope {
  legalEntityIds: number[];
  departmentIds: number[];
}

/**
 * The longest filter (`legalEntityId=…&departmentId=…`) sent to Lucca. Lucca's limit on a URL is
 * not documented; IIS, a common host for .NET APIs, refuses query strings past 2,048 characters by
 * default, and the rest of the query takes about 150. Above this (about 150 ids) the filter is
 * not sent and the local check alone keeps the scope, at the cost of reading the whole tenant.
 */
export const MAX_SCOPE_FILTER_CHARS = 1_000;

function normaliseIds(ids: readonly number[] | undefined, what: string): number[] {
  const list = [...new Set(ids ?? [])].sort((a, b) => a - b);
  const bad = list.find((id) => !(Number.isSafeInteger(id) && id > 0));
  if (bad !== undefined) throw new RangeError(`${what} must be positive whole Lucca ids, got ${String(bad)}`);
  return list;
}

/** Refuses ids that cannot be Lucca's (RangeError); null for a scope that limits nothing. */
export function normaliseLuccaScope(scope: LuccaScope | undefined): NormalisedLuccaScope | null {
  const legalEntityIds = normaliseIds(scope?.legalEntityIds, 'legalEntityIds');
  const departmentIds = normaliseIds(scope?.departmentIds, 'departmentIds');
  return legalEntityIds.length === 0 && departmentIds.length === 0 ? null : { legalEntityIds, departmentIds };
}

/** The query parameters asking Lucca to filter (with a leading `&`), or '' when too long to send. */
export function scopeFilterQuery(scope: NormalisedLuccaScope): string {
  const parts: string[] = [];
  if (scope.legalEntityIds.length > 0) parts.push(`legalEntityId=${scope.legalEntityIds.join(',')}`);
  if (scope.departmentIds.length > 0) parts.push(`departmentId=${scope.departmentIds.join(',')}`);
  const filter = parts.join('&');
  return filter.length > MAX_SCOPE_FILTER_CHARS ? '' : `&${filter}`;
}

function orgUnitOf(value: unknown): LuccaOrgUnit | null {
  if (typeof value !== 'object' || value === null) return null;
  const { id, name } = value as { id?: unknown; name?: unknown };
  if (!(typeof id === 'number' && Number.isSafeInteger(id) && id > 0)) return null;
  return { id, name: typeof name === 'string' ? name : null };
}

/** A raw Lucca user's `legalEntity` and `department`, as read with the organisation fields. */
export function luccaUserOrganisation(raw: unknown): LuccaUserOrganisation {
  const item = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  return { legalEntity: orgUnitOf(item.legalEntity), department: orgUnitOf(item.department) };
}

/** Whether a user placed there is inside the scope. A user without a unit is outside any list of them. */
export function isInLuccaScope(
  scope: NormalisedLuccaScope,
  legalEntityId: number | null,
  departmentId: number | null,
): boolean {
  const entityOk =
    scope.legalEntityIds.length === 0 || (legalEntityId !== null && scope.legalEntityIds.includes(legalEntityId));
  const departmentOk =
    scope.departmentIds.length === 0 || (departmentId !== null && scope.departmentIds.includes(departmentId));
  return entityOk && departmentOk;
}

/**
 * Whether someone could be in both scopes (null: the whole tenant): each kind of unit either is
 * not limited by one of them or has a unit in both lists. Two companies' scopes that overlap so
 * would both receive the people there, now or after a move.
 */
export function luccaScopesOverlap(a: NormalisedLuccaScope | null, b: NormalisedLuccaScope | null): boolean {
  const meet = (x: readonly number[] | undefined, y: readonly number[] | undefined) =>
    !x || !y || x.length === 0 || y.length === 0 || x.some((id) => y.includes(id));
  return meet(a?.legalEntityIds, b?.legalEntityIds) && meet(a?.departmentIds, b?.departmentIds);
}

/** Whether two scopes cover the same units (null and empty lists: the whole tenant). */
export function sameLuccaScope(a: NormalisedLuccaScope | null, b: NormalisedLuccaScope | null): boolean {
  const ids = (s: NormalisedLuccaScope | null) =>
    JSON.stringify([s?.legalEntityIds ?? [], s?.departmentIds ?? []].map((l) => [...l].sort((x, y) => x - y)));
  return ids(a) === ids(b);
}

/** A user Lucca returned outside the scope: where it sits, never who it is (the rest is dropped). */
export interface LuccaOutOfScopeUser {
  /** Null when Lucca sent no usable id. */
  id: number | null;
  legalEntityId: number | null;
  departmentId: number | null;
}

/** Splits a page's raw users into those inside the scope (kept raw) and the others (reduced to ids). */
export function splitByScope(
  items: readonly unknown[],
  scope: NormalisedLuccaScope,
): { items: unknown[]; outOfScope: LuccaOutOfScopeUser[] } {
  const inside: unknown[] = [];
  const outOfScope: LuccaOutOfScopeUser[] = [];
  for (const item of items) {
    const { legalEntity, department } = luccaUserOrganisation(item);
    const legalEntityId = legalEntity?.id ?? null;
    const departmentId = department?.id ?? null;
    if (isInLuccaScope(scope, legalEntityId, departmentId)) {
      inside.push(item);
    } else {
      const id = (item as { id?: unknown } | null)?.id;
      outOfScope.push({
        id: typeof id === 'number' && Number.isSafeInteger(id) ? id : null,
        legalEntityId,
        departmentId,
      });
    }
  }
  return { items: inside, outOfScope };
}

/** A unit of the tenant with the number of users it holds. */
export interface LuccaOrgUnitCount extends LuccaOrgUnit {
  userCount: number;
}

/** The legal entities and departments a tenant's users are in, counted; see LuccaClient.readOrganisation. */
export interface LuccaOrganisation {
  /** By id. A unit nobody is in is not listed: the users read is all Lucca tells of it. */
  legalEntities: LuccaOrgUnitCount[];
  departments: LuccaOrgUnitCount[];
  /**
   * Users per (legal entity, department) pair, null for a user without one: enough to count any
   * scope, or the overlap of two, without reading Lucca again (see countUsersInScopes).
   */
  pairs: { legalEntityId: number | null; departmentId: number | null; userCount: number }[];
  /** Every user the key sees, former employees and future hires included: what a sync reads. */
  userCount: number;
  /** Users were deleted during the read, so a later user may have been missed: read again for exact counts. */
  moved: boolean;
}

/** How many users of the tenant are inside every one of the scopes (one scope: its size; two: their overlap). */
export function countUsersInScopes(organisation: LuccaOrganisation, scopes: readonly LuccaScope[]): number {
  const normalised = scopes.map(normaliseLuccaScope);
  let count = 0;
  for (const pair of organisation.pairs) {
    if (normalised.every((s) => s === null || isInLuccaScope(s, pair.legalEntityId, pair.departmentId))) {
      count += pair.userCount;
    }
  }
  return count;
}

/**
 * Counts units and pairs from each user's last known place. A unit's name is the one its last user
 * read carried, so an entity renamed during the read shows its new name.
 */
export function tallyOrganisation(places: Iterable<LuccaUserOrganisation>, moved: boolean): LuccaOrganisation {
  const entities = new Map<number, LuccaOrgUnitCount>();
  const departments = new Map<number, LuccaOrgUnitCount>();
  const pairs = new Map<string, LuccaOrganisation['pairs'][number]>();
  let userCount = 0;
  const count = (units: Map<number, LuccaOrgUnitCount>, unit: LuccaOrgUnit | null): void => {
    if (unit === null) return;
    const seen = units.get(unit.id);
    if (seen) {
      seen.userCount += 1;
      if (unit.name !== null) seen.name = unit.name;
    } else {
      units.set(unit.id, { ...unit, userCount: 1 });
    }
  };
  for (const { legalEntity, department } of places) {
    userCount += 1;
    count(entities, legalEntity);
    count(departments, department);
    const legalEntityId = legalEntity?.id ?? null;
    const departmentId = department?.id ?? null;
    const key = `${legalEntityId}/${departmentId}`;
    const pair = pairs.get(key);
    if (pair) pair.userCount += 1;
    else pairs.set(key, { legalEntityId, departmentId, userCount: 1 });
  }
  const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
  const nullsFirst = (a: number | null, b: number | null) => (a ?? 0) - (b ?? 0);
  return {
    legalEntities: [...entities.values()].sort(byId),
    departments: [...departments.values()].sort(byId),
    pairs: [...pairs.values()].sort(
      (a, b) => nullsFirst(a.legalEntityId, b.legalEntityId) || nullsFirst(a.departmentId, b.departmentId),
    ),
    userCount,
    moved,
  };
}
