import type { ProfileListRow } from '../db/profiles-repository';
import {
  compareListEntries,
  entryMatcher,
  listEntryOf,
  unitsOf,
  type ProfileListEntry,
  type ProfileListFilter,
} from '../domain/profile-list';

/**
 * A company's profiles as the list pages them: read once, sorted in French order, kept in the
 * console's memory for a while. FerretDB 1.x decodes every profile of the collection for any
 * filter but `_id` and sorts in Go (a sorted page of 50 and its count took 88 s each at 100,000
 * profiles on SQLite), so every page, filter and search reading the store would cost that; here a
 * company costs one read (38 s at that size on SQLite, done in the background while the page says
 * how far it got) and every page after it a filter of the entries in memory (milliseconds).
 *
 * What it costs: the list is as of its read (the page says when), so a profile the platform
 * writes shows there after `MAX_AGE_MS`, after the company's next run, or at once with "refresh";
 * a profile's own page always reads the store. Memory: about 600 bytes a profile, at most
 * `maxCompanies` companies, least recently used first out.
 */
export interface DirectorySnapshot {
  companyId: string;
  builtAt: Date;
  entries: ProfileListEntry[];
  legalEntities: { id: number; name: string; count: number }[];
  departments: { id: number; name: string; count: number }[];
}

export type DirectoryAnswer =
  /** `refreshing`: an older snapshot, while a newer one is read. */
  | { kind: 'ready'; snapshot: DirectorySnapshot; refreshing: boolean }
  /** No snapshot yet: this many profiles read so far. */
  | { kind: 'building'; read: number; startedAt: Date };

interface Build {
  read: number;
  startedAt: Date;
  done: Promise<DirectorySnapshot>;
}

export interface ProfileDirectoryOptions {
  readRows(companyId: string): AsyncIterable<ProfileListRow>;
  now?: () => Date;
  /** A snapshot older than this is read again (served meanwhile). */
  maxAgeMs?: number;
  /** How long a request waits for a read under way before answering with what there is. */
  waitMs?: number;
  maxCompanies?: number;
}

export const MAX_AGE_MS = 5 * 60_000;
const WAIT_MS = 3_000;
const MAX_COMPANIES = 20;

export class ProfileDirectory {
  private readonly snapshots = new Map<string, DirectorySnapshot>();
  private readonly builds = new Map<string, Build>();
  private readonly now: () => Date;

  constructor(private readonly opts: ProfileDirectoryOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * The company's snapshot, read again first when asked (`refresh`), when older than the max age,
   * or when built before `changedAt` (the end of the company's latest run). Waits at most `waitMs`
   * for a read under way; past that, answers the older snapshot or how far the read got.
   */
  async get(companyId: string, opts: { refresh?: boolean; changedAt?: Date | null } = {}): Promise<DirectoryAnswer> {
    const current = this.snapshots.get(companyId);
    const stale =
      !current ||
      opts.refresh === true ||
      this.now().getTime() - current.builtAt.getTime() > (this.opts.maxAgeMs ?? MAX_AGE_MS) ||
      (opts.changedAt != null && opts.changedAt > current.builtAt);
    if (current) {
      // Most recently used last: the first key is the one to forget.
      this.snapshots.delete(companyId);
      this.snapshots.set(companyId, current);
    }
    if (!stale) return { kind: 'ready', snapshot: current, refreshing: false };
    const build = this.builds.get(companyId) ?? this.startBuild(companyId);
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      build.done,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), this.opts.waitMs ?? WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (waited) return { kind: 'ready', snapshot: waited, refreshing: false };
    if (current) return { kind: 'ready', snapshot: current, refreshing: true };
    return { kind: 'building', read: build.read, startedAt: build.startedAt };
  }

  private startBuild(companyId: string): Build {
    const build = { read: 0, startedAt: this.now() } as Build;
    build.done = (async () => {
      try {
        const entries: ProfileListEntry[] = [];
        for await (const row of this.opts.readRows(companyId)) {
          entries.push(entryOfRow(row));
          build.read++;
        }
        entries.sort(compareListEntries);
        const snapshot: DirectorySnapshot = {
          companyId,
          builtAt: build.startedAt,
          entries,
          legalEntities: unitsOf(entries, (e) => e.legalEntity),
          departments: unitsOf(entries, (e) => e.department),
        };
        this.keep(snapshot);
        return snapshot;
      } finally {
        this.builds.delete(companyId);
      }
    })();
    // A failed read is answered to the requests waiting for it; none waiting must not crash the console.
    build.done.catch(() => undefined);
    this.builds.set(companyId, build);
    return build;
  }

  private keep(snapshot: DirectorySnapshot): void {
    this.snapshots.delete(snapshot.companyId);
    this.snapshots.set(snapshot.companyId, snapshot);
    const max = this.opts.maxCompanies ?? MAX_COMPANIES;
    for (const companyId of this.snapshots.keys()) {
      if (this.snapshots.size <= max) break;
      this.snapshots.delete(companyId);
    }
  }
}

function entryOfRow(row: ProfileListRow): ProfileListEntry {
  return listEntryOf({
    id: row._id.toHexString(),
    firstName: row.firstName ?? null,
    lastName: row.lastName ?? null,
    email: row.email ?? null,
    status: row.status,
    linked: row.lucca?.userId !== undefined,
    contractStart: row.contractStart ?? null,
    contractEnd: row.contractEnd ?? null,
    legalEntity: unit(row.lucca?.legalEntity),
    department: unit(row.lucca?.department),
  });
}

const unit = (u: { id: number; name: string | null } | null | undefined) =>
  u && typeof u.id === 'number' ? { id: u.id, name: typeof u.name === 'string' ? u.name : String(u.id) } : null;

export interface DirectoryPage {
  total: number;
  skip: number;
  limit: number;
  items: ProfileListEntry[];
}

/** One page of the snapshot's entries that pass the filter, in French order. */
export function pageOf(
  snapshot: DirectorySnapshot,
  filter: ProfileListFilter,
  skip: number,
  limit: number,
): DirectoryPage {
  const matches = entryMatcher(filter);
  const items: ProfileListEntry[] = [];
  let total = 0;
  for (const e of snapshot.entries) {
    if (!matches(e)) continue;
    if (total >= skip && items.length < limit) items.push(e);
    total++;
  }
  return { total, skip, limit, items };
}
