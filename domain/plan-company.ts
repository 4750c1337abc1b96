import { GuardedChanges, guardVerdict, type GuardReview, type Guards, type GuardVerdict } from './guards';
import { addToCounts, isAbsence, planLuccaUser, planRemoval } from './plan';
import { statusFor } from './status';
import type { CompanyProfileIndex } from './profile-index';
import { emptyCounts, type MappedLuccaUser, type PlannedChange, type SyncCounts } from './types';

/**
 * Counts a plan as it is made. `seen` is the number of Lucca records read (skipped ones included);
 * `unchanged` = seen − changes that stem from a Lucca record, i.e. every change except removals
 * (a removed user was not seen). A link of a former employee counts as `linked`, not `deactivated`.
 */
export class PlanTally {
  #counts: SyncCounts = emptyCounts();
  #fromSeenRecords = 0;
  seen = 0;
  /** The people each guard's changes touch: the guards' input. */
  readonly guarded = new GuardedChanges();
  /** Changes that write a profile. */
  writes = 0;

  /** `fromStore`: a change planned from the store's own values (a date roll), not from a record read. */
  add(change: PlannedChange, fromStore = false): void {
    this.#counts = addToCounts(this.#counts, change);
    if (!isAbsence(change) && !fromStore) this.#fromSeenRecords += 1;
    this.guarded.add(change);
    if (change.target) this.writes += 1;
  }

  /** Adds another tally's changes and records to this one. */
  merge(other: PlanTally): void {
    for (const [key, value] of Object.entries(other.#counts) as [keyof SyncCounts, number][]) {
      this.#counts[key] += value;
    }
    this.#fromSeenRecords += other.#fromSeenRecords;
    this.seen += other.seen;
    this.guarded.merge(other.guarded);
    this.writes += other.writes;
  }

  get counts(): SyncCounts {
    return { ...this.#counts, seen: this.seen, unchanged: Math.max(0, this.seen - this.#fromSeenRecords) };
  }
}

export interface CompanyPlanContext {
  /** The company's local date, `YYYY-MM-DD`. */
  today: string;
  index: CompanyProfileIndex;
  /** Ids for profiles to create, chosen at plan time so a retried apply upserts the same document. */
  newProfileId: () => string;
}

/**
 * Plans a whole company page by page, as the pages are read: `planPage` for each
 * page of Lucca users in read order, then — the read complete — `stalePages` re-planned with
 * `replanPage`, `planRemovals`, and `verdict` for the guard.
 *
 * A Lucca id met again on a later page (data moving under offset paging) is planned once, as first
 * read. Two users sharing an email are both conflicts; when the second one comes on a later page,
 * the first one's page was planned without knowing it: that page is stale and must be planned
 * again from its read copy once the read is over (`stalePages`). Sharing an email is rare, so
 * planning each page as it arrives costs one re-planned page per email found shared late.
 */
export class CompanyPlanner {
  /** Lucca id → the page it was first read on. */
  readonly #firstPage = new Map<number, number>();
  /** Email → the page of the first user read with it. */
  readonly #emailPage = new Map<string, number>();
  readonly #duplicates = new Set<string>();
  readonly #stale = new Set<number>();
  readonly #pages = new Map<number, PlanTally>();
  readonly #removals = new PlanTally();
  readonly #rolled = new PlanTally();

  constructor(private readonly ctx: CompanyPlanContext) {}

  /** Plans the users of page `page`, the next page of the read. */
  planPage(page: number, users: readonly MappedLuccaUser[]): PlannedChange[] {
    const own: MappedLuccaUser[] = [];
    for (const user of users) {
      const { luccaUserId } = user;
      if (luccaUserId !== null) {
        if (this.#firstPage.has(luccaUserId)) continue;
        this.#firstPage.set(luccaUserId, page);
      }
      own.push(user);
      const email = user.kind === 'ok' ? user.fields.email : null;
      if (email === null) continue;
      const holder = this.#emailPage.get(email);
      if (holder === undefined) {
        this.#emailPage.set(email, page);
      } else if (!this.#duplicates.has(email)) {
        this.#duplicates.add(email);
        if (holder < page) this.#stale.add(holder);
      }
    }
    return this.#plan(page, own);
  }

  /** Pages planned before an email of theirs turned out shared: re-plan each with `replanPage`. */
  stalePages(): number[] {
    return [...this.#stale].sort((a, b) => a - b);
  }

  /** Plans page `page` again, from the same users as first read, with every shared email known. */
  replanPage(page: number, users: readonly MappedLuccaUser[]): PlannedChange[] {
    this.#stale.delete(page);
    const own = users.filter((u) => u.luccaUserId === null || this.#firstPage.get(u.luccaUserId) === page);
    return this.#plan(page, own);
  }

  #plan(page: number, users: readonly MappedLuccaUser[]): PlannedChange[] {
    const { index, today } = this.ctx;
    const tally = new PlanTally();
    const changes: PlannedChange[] = [];
    for (const user of users) {
      const { luccaUserId } = user;
      tally.seen += 1;
      const email = user.kind === 'ok' ? user.fields.email : null;
      const sameEmail = email ? index.withEmail(email) : [];
      const change = planLuccaUser(user, {
        today,
        linkedProfile: luccaUserId === null ? null : index.linked(luccaUserId),
        unlinkedSameEmail: sameEmail.filter((p) => !p.lucca),
        emailTakenBy: sameEmail.find((p) => p.lucca && p.lucca.userId !== luccaUserId) ?? null,
        emailDuplicatedInLucca: email !== null && this.#duplicates.has(email),
      });
      if (!change) continue;
      const planned = change.action === 'create' ? { ...change, profileId: this.ctx.newProfileId() } : change;
      tally.add(planned);
      changes.push(planned);
    }
    this.#pages.set(page, tally);
    return changes;
  }

  /**
   * Lucca ids of the linked profiles, not former, whose user the read did not contain: those
   * `planRemovals` would deactivate. A scoped read asks Lucca where they are before.
   */
  absentLinked(): number[] {
    const ids: number[] = [];
    for (const [userId, profile] of this.ctx.index.linkedProfiles()) {
      if (!this.#firstPage.has(userId) && profile.status !== 'former') ids.push(userId);
    }
    return ids;
  }

  /**
   * Linked profiles whose Lucca user the (complete) read did not contain. `places`, for a scoped
   * read, says where Lucca has each of them (`absentLinked`): outside the scope is `out-of-scope`;
   * inside it (moved in under the read) plans nothing until the next run reads them; not in Lucca
   * is `removed-from-lucca`, as is every absent user of a read of the whole tenant (no `places`).
   * A read that cannot see absences (incremental, one user) passes `only`: the users it saw outside
   * the company's scope, or the one user asked for.
   */
  planRemovals(places?: ReadonlyMap<number, 'in-scope' | 'out-of-scope'>, only?: ReadonlySet<number>): PlannedChange[] {
    const removals: PlannedChange[] = [];
    for (const [userId, profile] of this.ctx.index.linkedProfiles()) {
      if (this.#firstPage.has(userId) || (only && !only.has(userId))) continue;
      const place = places?.get(userId);
      if (place === 'in-scope') continue;
      const change = planRemoval(profile, place === 'out-of-scope' ? 'out-of-scope' : 'removed-from-lucca');
      if (!change) continue;
      this.#removals.add(change);
      removals.push(change);
    }
    return removals;
  }

  /**
   * The dates of the linked profiles the read did not return, rolled to today from the store's own
   * values: a contract ended before today deactivates (`contract-ended`), a start date reached makes
   * an upcoming hire active. Fields are the profile's, so nothing but the status moves. Profiles
   * removed from Lucca or out of scope are left as they are (a read decides on them).
   */
  planDateRoll(): PlannedChange[] {
    const { index, today } = this.ctx;
    const rolled: PlannedChange[] = [];
    for (const [userId, profile] of index.linkedProfiles()) {
      if (this.#firstPage.has(userId) || profile.lucca?.removedAt != null || profile.lucca?.outOfScopeAt != null) {
        continue;
      }
      if (statusFor(profile.fields, today) === profile.status) continue;
      const change = planLuccaUser(
        { kind: 'ok', luccaUserId: userId, fields: { ...profile.fields }, issues: [] },
        { today, linkedProfile: profile, unlinkedSameEmail: [], emailTakenBy: null, emailDuplicatedInLucca: false },
      );
      if (!change) continue;
      this.#rolled.add(change, true);
      rolled.push(change);
    }
    return rolled;
  }

  /** The company's profiles linked to a user of the tenant read. */
  get linkedProfiles(): number {
    return this.ctx.index.linkedCount;
  }

  /** Profiles linked under another tenant, which the apply unlinks first (see `CompanyProfileIndex`). */
  get otherTenantLinks(): number {
    return this.ctx.index.otherTenantLinks;
  }

  /** The whole plan so far, counted. */
  get tally(): PlanTally {
    const total = new PlanTally();
    for (const tally of this.#pages.values()) total.merge(tally);
    total.merge(this.#removals);
    total.merge(this.#rolled);
    return total;
  }

  /**
   * Which guards this plan fires, measured against the company's linked profiles (see
   * `GuardBases`), and whether it is held back; `review` is an operator's override of a blocked run (see
   * `guardVerdict`).
   */
  verdict(guards: Guards, review: GuardReview | null): GuardVerdict {
    const { index } = this.ctx;
    const bases = { linkedNotFormer: index.linkedNotFormer, linked: index.linkedCount };
    return guardVerdict(guards, bases, this.tally.guarded, review);
  }
}
