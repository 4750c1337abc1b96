import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { registerControlRoutes } from './control-routes';
import type { LuccaRawUser } from './dataset';
import { localDate, localTime } from './dates';
import { DEFAULT_HR_SECTIONS } from './hr-file';
import {
  DEFAULT_HUGE_BYTES,
  DEFAULT_LONG_FIELD_LENGTH,
  FaultStore,
  HoldStore,
  hugeBody,
  type FaultRule,
  type HoldRule,
  type RequestHold,
} from './faults';
import {
  BadRequestError,
  MODIFIED_FILTERS,
  ORGANISATION_FILTERS,
  pagingOffsetOf,
  parseListQuery,
  runGetQuery,
  runListQuery,
  type ServeContext,
} from './query';
import {
  FakeTenant,
  UnknownTenantError,
  type FakeApiKey,
  type ModifiedField,
  type OrganisationFilters,
  type PageHook,
  type RateLimit,
  type TenantOptions,
} from './tenant';

export interface RequestLogEntry {
  /** The tenant the request was addressed to (path prefix or Host), null when no Host matched. */
  tenant: string | null;
  method: string;
  /** Tenant-relative: `/api/v3/users`, whether the request came by path prefix or by Host. */
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  /** 0 while the request is in flight, and for a reset connection, which never gets one. */
  status: number;
  /** Arrival, epoch ms. */
  at: number;
  /**
   * The body's bytes, once answered (what a benchmark counts as read). For a `huge` answer, the
   * bytes made so far: it is made as the client reads, so a client that hangs up early leaves this
   * far below the size the answer would have had.
   */
  bytesSent?: number;
}

export interface FakeLucca {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `${url}/t/${tenant}`: the client calls `${tenantUrl}/api/v3/users`. */
  tenantUrl(tenant: string): string;
  /** Replaces a tenant of that name. */
  addTenant(name: string, opts?: TenantOptions): void;
  setUsers(tenant: string, users: LuccaRawUser[]): void;
  /** A copy of the tenant's users as stored (contract history included). */
  getUsers(tenant: string): LuccaRawUser[];
  mutateUsers(tenant: string, fn: (users: LuccaRawUser[]) => LuccaRawUser[]): void;
  /**
   * Changes the dataset right before the next page read (at `whenOffset` if given), to imitate
   * data moving between the pages of one offset-paged read. Runs once.
   */
  onNextRequest(tenant: string, fn: PageHook, opts?: { whenOffset?: number }): void;
  setToday(tenant: string, today: string): void;
  setRateLimit(tenant: string, rl: RateLimit | false): void;
  setApiKeys(tenant: string, keys: FakeApiKey[]): void;
  /** `ignore` drops `legalEntityId=` and `departmentId=`, answering everyone (see TenantOptions). */
  setOrganisationFilters(tenant: string, mode: OrganisationFilters): void;
  /**
   * `ignore` drops the modification filter (`modifiedAt=since,…`), answering everyone; `field`
   * renames the modification time the tenant knows (`modifiedOn`, as some versions call it).
   */
  setModifiedFilter(tenant: string, mode: OrganisationFilters, field?: ModifiedField): void;
  addFault(rule: FaultRule): string;
  removeFault(id: string): boolean;
  /** Rules still armed; `times` is the number of hits left. */
  listFaults(): FaultRule[];
  /**
   * Stops the next request that matches `rule` until the hold is released (see `RequestHold`);
   * `clearFaults` releases it too.
   */
  holdRequest(rule: HoldRule): RequestHold;
  clearFaults(): void;
  requests(tenant?: string): RequestLogEntry[];
  clearRequests(): void;
  close(): Promise<void>;
}

export interface StartFakeLuccaOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Fastify's request log on stdout; headers (hence API keys) are never part of it. */
  logRequests?: boolean;
}

interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

const MAX_LOG_ENTRIES = 100_000;
const DEFAULT_SLOW_MS = 1000;
const DEFAULT_PRINCIPAL = 'Fake Lucca API key';

// Lucca's legacy error body, as an old Lucca SDK reads it.
const luccaError = (status: number, message: string, headers?: Record<string, string>): ApiResponse => ({
  status,
  headers,
  body: { Status: status, Message: message },
});

/**
 * Whether a request answered by `fault` takes a slot of the tenant's rate limit: a normal answer
 * does, slowed or with a long field too; an injected error, reset, truncated or runaway body does not.
 */
const countsAgainstRateLimit = (fault: FaultRule | undefined) =>
  fault === undefined || fault.kind === 'slow' || fault.kind === 'long-field';

function splitUrl(url: string): { path: string; query: Record<string, string> } {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1)));
  return { path, query };
}

export class FakeLuccaServer implements FakeLucca {
  url = '';
  private readonly tenants = new Map<string, FakeTenant>();
  private readonly faults = new FaultStore();
  private readonly holds = new HoldStore();
  private log: RequestLogEntry[] = [];
  // Aborts the waits of slow and delayed faults, so that close() does not wait for them.
  private readonly closing = new AbortController();

  constructor(private readonly app: FastifyInstance) {
    app.all('/t/:tenant/*', (request, reply) => {
      const { tenant } = request.params as { tenant: string };
      const { path } = splitUrl(request.url);
      const relative = /^\/t\/[^/]+(\/.*)$/.exec(path)?.[1] ?? '/';
      return this.handleApi(
        request,
        reply,
        tenant,
        relative,
        `${this.origin(request)}/t/${encodeURIComponent(tenant)}`,
      );
    });
    void app.register(registerControlRoutes, { prefix: '/__fake', fake: this });
    app.all('/*', (request, reply) => {
      const tenant = this.tenantByHost(request.headers.host);
      return this.handleApi(request, reply, tenant, splitUrl(request.url).path, this.origin(request));
    });
  }

  tenantUrl(tenant: string): string {
    return `${this.url}/t/${encodeURIComponent(tenant)}`;
  }

  addTenant(name: string, opts?: TenantOptions): void {
    this.tenants.set(name, new FakeTenant(name, opts));
  }

  tenant(name: string): FakeTenant {
    const tenant = this.tenants.get(name);
    if (!tenant) throw new UnknownTenantError(name);
    return tenant;
  }

  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  setUsers(tenant: string, users: LuccaRawUser[]): void {
    this.tenant(tenant).setUsers(users);
  }

  getUsers(tenant: string): LuccaRawUser[] {
    return structuredClone([...this.tenant(tenant).users]);
  }

  mutateUsers(tenant: string, fn: (users: LuccaRawUser[]) => LuccaRawUser[]): void {
    this.tenant(tenant).mutateUsers(fn);
  }

  onNextRequest(tenant: string, fn: PageHook, opts?: { whenOffset?: number }): void {
    this.tenant(tenant).addPageHook(fn, opts?.whenOffset);
  }

  setToday(tenant: string, today: string): void {
    this.tenant(tenant).setToday(today);
  }

  setRateLimit(tenant: string, rl: RateLimit | false): void {
    this.tenant(tenant).setRateLimit(rl);
  }

  setApiKeys(tenant: string, keys: FakeApiKey[]): void {
    this.tenant(tenant).setApiKeys(keys);
  }

  setOrganisationFilters(tenant: string, mode: OrganisationFilters): void {
    this.tenant(tenant).organisationFilters = mode;
  }

  setModifiedFilter(tenant: string, mode: OrganisationFilters, field?: ModifiedField): void {
    const t = this.tenant(tenant);
    t.modifiedFilter = mode;
    if (field) t.modifiedField = field;
  }

  addFault(rule: FaultRule): string {
    return this.faults.add(rule);
  }

  removeFault(id: string): boolean {
    return this.faults.remove(id);
  }

  listFaults(): FaultRule[] {
    return this.faults.list();
  }

  clearFaults(): void {
    this.faults.clear();
    this.holds.releaseAll();
  }

  holdRequest(rule: HoldRule): RequestHold {
    return this.holds.add(rule);
  }

  requests(tenant?: string): RequestLogEntry[] {
    return this.log.filter((e) => tenant === undefined || e.tenant === tenant).map((e) => ({ ...e }));
  }

  clearRequests(): void {
    this.log = [];
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.app.close();
  }

  private origin(request: FastifyRequest): string {
    return `${request.protocol}://${request.headers.host ?? new URL(this.url).host}`;
  }

  private tenantByHost(host: string | undefined): string | null {
    if (!host) return null;
    const full = host.toLowerCase();
    const bare = full.replace(/:\d+$/, '');
    for (const [name, tenant] of this.tenants) {
      if (tenant.hosts.includes(full) || tenant.hosts.includes(bare)) return name;
    }
    return null;
  }

  /** False when the server started closing during the wait. */
  private async wait(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.closing.signal });
      return true;
    } catch {
      return false;
    }
  }

  /** False when the server started closing before the hold was released. */
  private async waitForRelease(hold: RequestHold): Promise<boolean> {
    const closed = new Promise<boolean>((resolve) => {
      if (this.closing.signal.aborted) resolve(false);
      this.closing.signal.addEventListener('abort', () => resolve(false), { once: true });
    });
    const released = await Promise.race([hold.hold().then(() => true), closed]);
    if (!released) hold.release();
    return released;
  }

  private async handleApi(
    request: FastifyRequest,
    reply: FastifyReply,
    tenantName: string | null,
    path: string,
    baseUrl: string,
  ): Promise<FastifyReply> {
    const { query } = splitUrl(request.url);
    const entry: RequestLogEntry = {
      tenant: tenantName,
      method: request.method,
      path,
      query,
      authorization: request.headers.authorization ?? null,
      status: 0,
      at: Date.now(),
    };
    this.log.push(entry);
    if (this.log.length > MAX_LOG_ENTRIES) this.log.splice(0, this.log.length - MAX_LOG_ENTRIES);

    const send = (response: ApiResponse, body: string = JSON.stringify(response.body)): FastifyReply => {
      entry.status = response.status;
      entry.bytesSent = Buffer.byteLength(body);
      return reply
        .code(response.status)
        .headers(response.headers ?? {})
        .type('application/json; charset=utf-8')
        .send(body);
    };
    const resetConnection = (): FastifyReply => {
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    };

    const target = { tenant: tenantName, path, offset: pagingOffsetOf(query) };
    // Lucca counts a request against the tenant's limit as it arrives, so the fake decides on arrival
    // which fault answers it and whether it takes a slot: a held or slowed answer counts from its
    // arrival, not from when it is let go. (Counted at its release, three pages held for a minute
    // and let go at once filled a window the workers' budget had spent by the rules: 429s that no
    // client caused.) A refused request is answered at once, and a hold waits for the next one.
    const fault = this.faults.take(target);
    if (countsAgainstRateLimit(fault)) {
      const refused = this.takeRateLimitSlot(tenantName);
      if (refused) return send(refused);
    }
    const hold = this.holds.take(target);
    if (hold && !(await this.waitForRelease(hold))) return resetConnection();
    switch (fault?.kind) {
      case 'reset':
        return resetConnection();
      case 'status': {
        if (fault.delayMs && !(await this.wait(fault.delayMs))) return resetConnection();
        const status = fault.status ?? 500;
        const headers = fault.retryAfter === undefined ? undefined : { 'retry-after': fault.retryAfter };
        return send(luccaError(status, `Injected fault: ${status}`, headers));
      }
      case 'slow':
        if (!(await this.wait(fault.delayMs ?? DEFAULT_SLOW_MS))) return resetConnection();
        break;
      case 'huge': {
        entry.status = 200;
        entry.bytesSent = 0;
        reply.code(200).type('application/json; charset=utf-8');
        const bytes = fault.bytes ?? DEFAULT_HUGE_BYTES;
        if (fault.announceLength) reply.header('content-length', String(bytes));
        const body = hugeBody(bytes, (sent) => (entry.bytesSent = sent));
        return reply.send(Readable.from(body, { objectMode: false }));
      }
      case 'long-field':
        return send(withLongField(this.serve(request, tenantName, path, query, baseUrl), fault));
      case 'truncate': {
        // A complete HTTP body (content-length matches) holding half a JSON document: the client
        // must fail on parsing, not on the transport.
        const text = JSON.stringify(this.serve(request, tenantName, path, query, baseUrl).body);
        return send({ status: 200, body: null }, text.slice(0, Math.floor(text.length / 2)));
      }
      case undefined:
        break;
    }
    return send(this.serve(request, tenantName, path, query, baseUrl));
  }

  /** Takes a slot of the tenant's rate limit now; the 429 to answer when there is none. */
  private takeRateLimitSlot(tenantName: string | null): ApiResponse | null {
    const tenant = tenantName === null ? undefined : this.tenants.get(tenantName);
    const slot = tenant?.takeRateLimitSlot(Date.now());
    if (!slot || slot.allowed) return null;
    return luccaError(429, 'Too many requests.', { 'retry-after': String(slot.retryAfterSeconds) });
  }

  private serve(
    request: FastifyRequest,
    tenantName: string | null,
    path: string,
    query: Record<string, string>,
    baseUrl: string,
  ): ApiResponse {
    const tenant = tenantName === null ? undefined : this.tenants.get(tenantName);
    if (!tenant) {
      return luccaError(404, tenantName === null ? 'No fake Lucca tenant for this Host.' : 'Unknown tenant.');
    }
    const auth = tenant.authenticate(request.headers.authorization);
    if (!auth.ok) return luccaError(auth.status, auth.message);
    if (request.method !== 'GET') return luccaError(405, `${request.method} is not allowed here.`);

    const now = new Date();
    const ctx: ServeContext = {
      today: tenant.today,
      seeFormer: auth.key.seeFormer ?? true,
      seeFuture: auth.key.seeFuture ?? true,
      seeBirthDates: auth.key.seeBirthDates ?? true,
      withheld: auth.key.withheld ?? 'null',
      hrSections: new Set(auth.key.hrSections ?? DEFAULT_HR_SECTIONS),
      baseUrl,
      modifiedField: tenant.modifiedField,
    };
    const header = {
      // Follows the tenant's clock when a test set one, so the whole response tells one date.
      generated: `${tenant.hasFixedToday ? tenant.today : localDate(now)}T${localTime(now)}`,
      principal: auth.key.principal ?? DEFAULT_PRINCIPAL,
    };
    const route = path.replace(/\/+$/, '').toLowerCase();

    if (route === '/api/v3/users') {
      try {
        const ignored = [
          ...(tenant.organisationFilters === 'ignore' ? ORGANISATION_FILTERS : []),
          ...(tenant.modifiedFilter === 'ignore' ? MODIFIED_FILTERS : []),
        ];
        const listQuery = parseListQuery(query, {
          ignoredFilters: ignored.length > 0 ? new Set(ignored) : undefined,
          modifiedField: tenant.modifiedField,
        });
        tenant.runPageHooks(listQuery.offset);
        return { status: 200, body: { header, data: runListQuery(tenant.users, listQuery, ctx) } };
      } catch (error) {
        if (error instanceof BadRequestError) return luccaError(400, error.message);
        throw error;
      }
    }
    const single = /^\/api\/v3\/users\/(\d+)$/.exec(route);
    if (single) {
      const data = runGetQuery(tenant.users, Number(single[1]), query, ctx);
      return data ? { status: 200, body: { header, data } } : luccaError(404, 'User not found.');
    }
    return luccaError(404, 'Not found.');
  }
}

/** A `long-field` fault's answer: the users of a normal page, their `field` made `length` characters long. */
function withLongField(response: ApiResponse, fault: FaultRule): ApiResponse {
  const items = (response.body as { data?: { items?: unknown } } | null)?.data?.items;
  if (response.status !== 200 || !Array.isArray(items)) return response;
  const value = 'x'.repeat(fault.length ?? DEFAULT_LONG_FIELD_LENGTH);
  const [field, inner] = (fault.field ?? 'lastName').split('.', 2) as [string, string | undefined];
  for (const item of items as Record<string, unknown>[]) {
    if (fault.userIds !== undefined && !fault.userIds.includes(item.id as number)) continue;
    // An object field is copied, not changed: the user's object may be the dataset's own.
    const current = item[field];
    item[field] =
      inner === undefined
        ? value
        : { ...(typeof current === 'object' && current !== null ? current : {}), [inner]: value };
  }
  return response;
}

export async function startFakeLucca(opts: StartFakeLuccaOptions = {}): Promise<FakeLucca> {
  const host = opts.host ?? '127.0.0.1';
  const app = Fastify({
    logger: opts.logRequests ? { level: 'info' } : false,
    // Benchmarks load 100k-user datasets through the control API.
    bodyLimit: 512 * 1024 * 1024,
    forceCloseConnections: true,
  });
  const fake = new FakeLuccaServer(app);
  await app.listen({ port: opts.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  fake.url = `http://${urlHost}:${port}`;
  return fake;
}
