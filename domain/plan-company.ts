import {
  addToCounts,
  blankedFields,
  changesEmail,
  guardLimit,
  isDeactivation,
  isRemoval,
  planLuccaUser,
  planRemoval,
} from './plan';
import type { CompanyProfileIndex } from './profile-index';
import {
  emptyCounts,
  type GuardCeiling,
  type GuardHit,
  type Guards,
  type MappedLuccaUser,
  type PlannedChange,
  type SyncCounts,
  type SyncedField,
} from './types';

/**
 * Counts a plan as it is made. `seen` is the number of Lucca records read (skipped ones included);
 * `unchanged` = seen − changes that stem from a Lucca record, i.e. every change except removals
 * (a removed user was not seen). A link of a former employee counts as `linked`, not `deactivated`.
 */
export class PlanTally {
  #counts: SyncCounts = emptyCounts();
  #fromSeenRecords = 0;
  seen = 0;
  /** Changes that take a profile from active/upcoming to former: the guard's input. */
  deactivations = 0;
  /** Changes that bring a former or removed profile back. */
  reactivations = 0;
  /** Changes that give a linked profile another email. */
  emailChanges = 0;
  /** Changes that blank a field that had a value, by field. */
  readonly blanked = new Map<SyncedField, number>();
  /** Changes that write a profile. */
  writes = 0;

  add(change: PlannedChange): void {
    this.#counts = addToCounts(this.#counts, change);
    if (!isRemoval(change)) this.#fromSeenRecords += 1;
    if (isDeactivation(change)) this.deactivations += 1;
    if (change.action === 'reactivate') this.reactivations += 1;
    if (changesEmail(change)) this.emailChanges += 1;
    for (const field of blankedFields(change)) this.blanked.set(field, (this.blanked.get(field) ?? 0) + 1);
    if (change.target) this.writes += 1;
  }

  /** Adds another tally's changes and records to this one. */
  merge(other: PlanTally): void {
    for (const [key, value] of Object.entries(other.#counts) as [keyof SyncCounts, number][]) {
      this.#counts[key] += value;
    }
    this.#fromSeenRecords += other.#fromSeenRecords;
    this.seen += other.seen;
    this.deactivations += other.deactivations;
    this.reactivations += other.reactivations;
    this.emailChanges += other.emailChanges;
    for (const [field, n] of other.blanked) this.blanked.set(field, (this.blanked.get(field) ?? 0) + n);
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

  /** Linked profiles whose Lucca user the (complete) read did not contain. */
  planRemovals(): PlannedChange[] {
    const removals: PlannedChange[] = [];
    for (const [userId, profile] of this.ctx.index.linkedProfiles()) {
      if (this.#firstPage.has(userId)) continue;
      const change = planRemoval(profile);
      if (!change) continue;
      this.#removals.add(change);
      removals.push(change);
    }
    return removals;
  }

  /** The whole plan so far, counted. */
  get tally(): PlanTally {
    const total = new PlanTally();
    for (const tally of this.#pages.values()) total.merge(tally);
    total.merge(this.#removals);
    return total;
  }

  /**
   * Whether the plan is held back: every guard whose count passes its limit, measured against the
   * company's active profiles; `allowMassChange` (the operator's override) lets it through.
   */
  /**
   * Which guards this plan fires, and whether it is blocked. An override is `true` (every guard,
   * whatever the counts) or the ceilings an operator reviewed on a blocked run: a fired guard
   * passes only up to its reviewed count, and one the operator did not see fire blocks as usual.
   */
  verdict(guards: Guards, override: boolean | readonly GuardCeiling[]) {
    const activeProfiles = this.ctx.index.notFormer;
    const tally = this.tally;
    const counts: Omit<GuardHit, 'limit'>[] = [
      { guard: 'deactivate', count: tally.deactivations },
      ...[...tally.blanked].map(([field, count]) => ({ guard: 'blank' as const, field, count })),
      { guard: 'email', count: tally.emailChanges },
      { guard: 'reactivate', count: tally.reactivations },
    ];
    const fired: GuardHit[] = counts
      .map((hit) => ({ ...hit, limit: guardLimit(guards[hit.guard], activeProfiles) }))
      .filter((hit) => hit.count > hit.limit)
      .map((hit) => {
        if (typeof override === 'boolean') return hit;
        const ceiling = override.find((c) => c.guard === hit.guard && (c.field ?? null) === (hit.field ?? null));
        return ceiling && hit.count <= ceiling.count ? hit : { ...hit, reviewed: ceiling?.count ?? 0 };
      });
    const blocked =
      typeof override === 'boolean' ? fired.length > 0 && !override : fired.some((hit) => hit.reviewed !== undefined);
    return {
      blocked,
      fired,
      limit: guardLimit(guards.deactivate, activeProfiles),
      activeProfiles,
      deactivations: tally.deactivations,
    };
  }
}
