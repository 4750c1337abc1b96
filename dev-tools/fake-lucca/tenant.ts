import type { LuccaRawUser } from './dataset';
import { isCalendarDate, localDate, localDateTime } from './dates';

export interface FakeApiKey {
  key: string;
  /** Lucca's "See former employees" permission; default true. */
  seeFormer?: boolean;
  /** Lucca's "See future employees" permission; default true. */
  seeFuture?: boolean;
  /** Without it `birthDate` comes back null; default true. */
  seeBirthDates?: boolean;
  /** How a field the key may not see comes back: null (default) or left out (Lucca is not documented). */
  withheld?: 'null' | 'omitted';
  /**
   * HR-file sections the key's role may consult ("Consult HR files → section"); custom fields of
   * other sections are left out of `extendedData`. Default `DEFAULT_HR_SECTIONS` (not the pay section).
   */
  hrSections?: string[];
  /** Shown as `header.principal`. */
  principal?: string;
  /** Answered with 401, like an unknown key. */
  revoked?: boolean;
  /** A valid key lacking the users permission: 403. */
  forbidden?: boolean;
}

export interface RateLimit {
  limit: number;
  windowMs: number;
}

export interface TenantOptions {
  users?: LuccaRawUser[];
  apiKeys?: FakeApiKey[];
  /** `YYYY-MM-DD`; default: the real local date, read at each request. */
  today?: string;
  /** Default: Lucca's 50 requests per 60 s. */
  rateLimit?: RateLimit | false;
  /** `Host` header values (port optional) that route to this tenant, e.g. `acme.ilucca.net`. */
  hosts?: string[];
  /**
   * `ignore`: `legalEntityId=` and `departmentId=` are dropped and everyone is answered, as a
   * tenant that does not support these filters would (Lucca does not document them on every
   * tenant). Default `apply`.
   */
  organisationFilters?: OrganisationFilters;
  /**
   * `ignore`: the modification filter (`modifiedAt=since,…`) is dropped and everyone is answered, as
   * a tenant that does not support it would. Default `apply`.
   */
  modifiedFilter?: OrganisationFilters;
  /**
   * The name this tenant gives the users' modification time, in `fields=`, filters and answers:
   * `modifiedAt` (default) or `modifiedOn` (some versions); the other name is unknown to it.
   */
  modifiedField?: ModifiedField;
}

export type OrganisationFilters = 'apply' | 'ignore';
export type ModifiedField = 'modifiedAt' | 'modifiedOn';

export const DEFAULT_RATE_LIMIT: RateLimit = { limit: 50, windowMs: 60_000 };

export type PageHook = (users: LuccaRawUser[], req: { offset: number }) => LuccaRawUser[];

export type AuthResult = { ok: true; key: FakeApiKey } | { ok: false; status: 401 | 403; message: string };

export class UnknownTenantError extends Error {
  constructor(readonly tenant: string) {
    super(`unknown fake Lucca tenant "${tenant}"`);
  }
}

const AUTHORIZATION = /^\s*lucca\s+application\s*=\s*(\S+)\s*$/i;

function validToday(today: string): string {
  if (!isCalendarDate(today)) throw new RangeError(`today must be a YYYY-MM-DD date, got "${today}"`);
  return today;
}

function validRateLimit(rl: RateLimit | false): RateLimit | false {
  if (rl !== false && !(Number.isInteger(rl.limit) && rl.limit > 0 && rl.windowMs > 0)) {
    throw new RangeError(`rate limit needs a positive integer limit and a positive windowMs`);
  }
  return rl === false ? false : { limit: rl.limit, windowMs: rl.windowMs };
}

/** A user's values but its modification time, to tell an edit from no change. */
function contentOf(user: LuccaRawUser): string {
  const { modifiedAt: _modifiedAt, ...rest } = user;
  return JSON.stringify(rest);
}

/** One Lucca account: its users, API keys, clock and rate-limit bucket. */
export class FakeTenant {
  private storedUsers: LuccaRawUser[] = [];
  private keys: FakeApiKey[] = [];
  private fixedToday: string | undefined;
  private limits: RateLimit | false = DEFAULT_RATE_LIMIT;
  /** Arrival times of the requests that took a slot in the current window. */
  private slots: number[] = [];
  private pageHooks: { fn: PageHook; whenOffset?: number }[] = [];
  hosts: string[] = [];
  organisationFilters: OrganisationFilters = 'apply';
  modifiedFilter: OrganisationFilters = 'apply';
  modifiedField: ModifiedField = 'modifiedAt';
  /** The clock modification times are stamped with (tests may set it). */
  clock: () => Date = () => new Date();

  constructor(
    readonly name: string,
    opts: TenantOptions = {},
  ) {
    this.setUsers(opts.users ?? []);
    this.setApiKeys(opts.apiKeys ?? []);
    if (opts.today !== undefined) this.setToday(opts.today);
    if (opts.rateLimit !== undefined) this.setRateLimit(opts.rateLimit);
    this.hosts = (opts.hosts ?? []).map((h) => h.toLowerCase());
    this.organisationFilters = opts.organisationFilters ?? 'apply';
    this.modifiedFilter = opts.modifiedFilter ?? 'apply';
    this.modifiedField = opts.modifiedField ?? 'modifiedAt';
  }

  get users(): readonly LuccaRawUser[] {
    return this.storedUsers;
  }

  get today(): string {
    return this.fixedToday ?? localDate();
  }

  get hasFixedToday(): boolean {
    return this.fixedToday !== undefined;
  }

  get rateLimit(): RateLimit | false {
    return this.limits;
  }

  get apiKeyCount(): number {
    return this.keys.length;
  }

  // Copies in and out, so that a test holding an array cannot change the server's data behind its back.
  setUsers(users: readonly LuccaRawUser[]): void {
    this.storedUsers = structuredClone([...users]);
  }

  /**
   * Changes the dataset as Lucca would see an edit: a user added, or changed without the change
   * setting its modification time itself, gets `modifiedAt` = now on the fake's clock (its local
   * time, as `header.generated`), so reads filtered on `modifiedAt=since,…` find them.
   */
  mutateUsers(fn: (users: LuccaRawUser[]) => LuccaRawUser[]): void {
    const before = new Map(this.storedUsers.map((u) => [u.id, u]));
    const after = fn(structuredClone(this.storedUsers));
    const stamp = localDateTime(this.clock());
    for (const user of after) {
      const old = before.get(user.id);
      if (old === undefined || (user.modifiedAt === old.modifiedAt && contentOf(user) !== contentOf(old))) {
        user.modifiedAt = stamp;
      }
    }
    this.setUsers(after);
  }

  setApiKeys(keys: readonly FakeApiKey[]): void {
    this.keys = keys.map((k) => ({ ...k }));
  }

  setToday(today: string): void {
    this.fixedToday = validToday(today);
  }

  /** A new limit starts with an empty window. */
  setRateLimit(rl: RateLimit | false): void {
    this.limits = validRateLimit(rl);
    this.slots = [];
  }

  /**
   * Rolling window shared by every key of the tenant. A refused request does not take a slot, so a
   * client that waits as told by `Retry-After` always gets through.
   */
  takeRateLimitSlot(now: number): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    if (this.limits === false) return { allowed: true };
    const { limit, windowMs } = this.limits;
    this.slots = this.slots.filter((t) => t > now - windowMs);
    if (this.slots.length < limit) {
      this.slots.push(now);
      return { allowed: true };
    }
    const oldest = this.slots[0] ?? now;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)) };
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, status: 401, message: 'Authorization header is missing.' };
    const m = AUTHORIZATION.exec(authorization);
    if (!m) return { ok: false, status: 401, message: 'Authorization must be "lucca application=<API key>".' };
    const key = this.keys.find((k) => k.key === m[1]);
    if (!key || key.revoked) return { ok: false, status: 401, message: 'Unknown or revoked API key.' };
    if (key.forbidden) return { ok: false, status: 403, message: 'This API key may not read users.' };
    return { ok: true, key };
  }

  addPageHook(fn: PageHook, whenOffset?: number): void {
    this.pageHooks.push({ fn, whenOffset });
  }

  /** Runs, once each, the hooks waiting for a page read at this offset. */
  runPageHooks(offset: number): void {
    const due = this.pageHooks.filter((h) => h.whenOffset === undefined || h.whenOffset === offset);
    if (due.length === 0) return;
    this.pageHooks = this.pageHooks.filter((h) => !due.includes(h));
    for (const hook of due) this.mutateUsers((users) => hook.fn(users, { offset }));
  }
}
