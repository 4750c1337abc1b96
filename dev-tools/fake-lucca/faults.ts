export interface FaultRule {
  id?: string;
  /** Only requests to this tenant; any tenant when absent. */
  tenant?: string;
  /** Prefix of the tenant-relative path; default `/api/v3/users` (list and single user). */
  path?: string;
  /** Only requests whose `paging` offset equals this (a request without `paging` has offset 0). */
  whenOffset?: number;
  /** How many matching requests to hit; default 1; `Infinity` allowed. */
  times?: number;
  /**
   * `status`: answer `status` (default 500), after `delayMs` if given (Lucca's 408 comes after a wait);
   * `reset`: destroy the socket without a response; `truncate`: a 200 whose JSON body is cut in
   * half; `slow`: the normal response, after `delayMs` (default 1000); `huge`: a 200 whose JSON body
   * is `bytes` long (default 500 MB), one user whose `lastName` fills it, made as it is sent and never
   * held in memory; `long-field`: the normal response with `field` of its users `length` characters long.
   */
  kind: 'status' | 'reset' | 'truncate' | 'slow' | 'huge' | 'long-field';
  status?: number;
  retryAfter?: string;
  delayMs?: number;
  /** `huge`: the body's exact size in bytes; default 500 MB. */
  bytes?: number;
  /** `huge`: send `Content-Length` up front (default: none, the body streams chunked with no size told). */
  announceLength?: boolean;
  /** `long-field`: which field of each user (default `lastName`); `department.name` names a field of an object field. */
  field?: string;
  /** `long-field`: its length in characters (default 10,000). */
  length?: number;
  /** `long-field`: only these users of the page (default every one). */
  userIds?: number[];
}

/** What `huge` sends when no `bytes` is given: a runaway answer far past any sane page. */
export const DEFAULT_HUGE_BYTES = 500 * 1000 * 1000;
export const DEFAULT_LONG_FIELD_LENGTH = 10_000;

// Every field the sync asks for, so that a `huge` body small enough to be read is a valid page.
const HUGE_HEAD =
  '{"data":{"items":[{"id":1,"firstName":"Runaway","mail":"runaway@example.test","birthDate":null,' +
  '"dtContractStart":"2020-01-06T00:00:00","dtContractEnd":null,"modifiedAt":"2026-01-10T09:00:00","lastName":"';
const HUGE_TAIL = '"}]}}';
/** The smallest `huge` body: the envelope around an empty name. */
export const MIN_HUGE_BYTES = HUGE_HEAD.length + HUGE_TAIL.length;
const HUGE_CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * A valid JSON page of exactly `bytes` bytes, generated as the socket takes it: memory stays at one
 * 64 KiB chunk whatever the size. `onChunk` is told the bytes handed over so far.
 */
export async function* hugeBody(bytes: number, onChunk: (sent: number) => void): AsyncGenerator<Buffer> {
  if (!(Number.isSafeInteger(bytes) && bytes >= MIN_HUGE_BYTES)) {
    throw new RangeError(`bytes must be an integer >= ${MIN_HUGE_BYTES}, got ${bytes}`);
  }
  let sent = 0;
  const give = (chunk: Buffer) => {
    sent += chunk.length;
    onChunk(sent);
    return chunk;
  };
  yield give(Buffer.from(HUGE_HEAD));
  for (let left = bytes - MIN_HUGE_BYTES; left > 0; left -= HUGE_CHUNK.length) {
    yield give(left >= HUGE_CHUNK.length ? HUGE_CHUNK : HUGE_CHUNK.subarray(0, left));
  }
  yield give(Buffer.from(HUGE_TAIL));
}

export const DEFAULT_FAULT_PATH = '/api/v3/users';

export interface FaultTarget {
  tenant: string | null;
  path: string;
  offset: number | null;
}

/** Fault rules in insertion order; the first matching rule with hits left answers a request. */
export class FaultStore {
  private rules: (FaultRule & { id: string; remaining: number })[] = [];
  private nextId = 1;

  add(rule: FaultRule): string {
    const id = rule.id ?? `fault-${this.nextId++}`;
    const remaining = rule.times ?? 1;
    if (!(remaining > 0)) throw new RangeError(`times must be > 0, got ${remaining}`);
    if (rule.bytes !== undefined && !(Number.isSafeInteger(rule.bytes) && rule.bytes >= MIN_HUGE_BYTES)) {
      throw new RangeError(`bytes must be an integer >= ${MIN_HUGE_BYTES}, got ${rule.bytes}`);
    }
    if (rule.length !== undefined && !(Number.isSafeInteger(rule.length) && rule.length >= 0)) {
      throw new RangeError(`length must be an integer >= 0, got ${rule.length}`);
    }
    this.rules = this.rules.filter((r) => r.id !== id);
    this.rules.push({ ...rule, id, remaining });
    return id;
  }

  /** Finds the rule for this request and spends one of its hits. */
  take(target: FaultTarget): FaultRule | undefined {
    const rule = this.rules.find(
      (r) =>
        (r.tenant === undefined || r.tenant === target.tenant) &&
        target.path.startsWith(r.path ?? DEFAULT_FAULT_PATH) &&
        (r.whenOffset === undefined || r.whenOffset === target.offset),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  /** Rules still armed, with the hits they have left (`times` here is what remains). */
  list(): FaultRule[] {
    return this.rules.map(({ remaining, ...rule }) => ({ ...rule, times: remaining }));
  }
}

/** Which request a hold stops: matched as a fault rule is (tenant, path prefix, paging offset). */
export type HoldRule = Pick<FaultRule, 'tenant' | 'path' | 'whenOffset'>;

/**
 * One request held until the test lets it go, then answered as usual (fault rules included): a
 * test stops a read at the page it wants, checks that the run is there, strikes, and releases it.
 * A hold stops one request; it comes before any fault rule, whatever the order they were added.
 */
export class RequestHold {
  /** When the request arrived and was stopped (epoch ms); null until then. */
  heldAt: number | null = null;
  /** When it was let go (released, or the server closed); null while held or still armed. */
  endedAt: number | null = null;
  readonly #released: Promise<void>;
  #release!: () => void;

  constructor(readonly rule: HoldRule) {
    this.#released = new Promise((resolve) => (this.#release = resolve));
  }

  /** A request is stopped here right now. */
  get holding(): boolean {
    return this.heldAt !== null && this.endedAt === null;
  }

  /** Lets the held request go on, or disarms the hold if no request came. Idempotent. */
  release(): void {
    this.endedAt ??= Date.now();
    this.#release();
  }

  /** The server's side: stops the request until `release`. */
  hold(): Promise<void> {
    this.heldAt = Date.now();
    return this.#released;
  }
}

/** Holds not yet over, in the order they were armed. */
export class HoldStore {
  private holds: RequestHold[] = [];

  add(rule: HoldRule): RequestHold {
    const hold = new RequestHold(rule);
    this.holds.push(hold);
    return hold;
  }

  /** The first armed hold this request matches, if any: the caller holds the request on it at once. */
  take(target: FaultTarget): RequestHold | undefined {
    this.holds = this.holds.filter((h) => h.endedAt === null);
    return this.holds.find(
      ({ heldAt, rule }) =>
        heldAt === null &&
        (rule.tenant === undefined || rule.tenant === target.tenant) &&
        target.path.startsWith(rule.path ?? DEFAULT_FAULT_PATH) &&
        (rule.whenOffset === undefined || rule.whenOffset === target.offset),
    );
  }

  /** Disarms every hold and lets every held request go. */
  releaseAll(): void {
    for (const hold of this.holds) hold.release();
    this.holds = [];
  }
}
