import { guardDeactivations, isDeactivation, isRemoval, planLuccaUser, planRemoval, addToCounts } from './plan';
import {
  emptyCounts,
  type DeactivationGuard,
  type MappedLuccaUser,
  type PlannedChange,
  type ProfileSnapshot,
  type SyncCounts,
} from './types';

/** What the planner knows of a company's profiles, read once before planning. */
export interface CompanyProfileIndex {
  linkedByUserId: Map<number, ProfileSnapshot>;
  /** Profiles by their (normalised) email, linked or not. */
  byEmail: Map<string, ProfileSnapshot[]>;
  /** Profiles currently active or upcoming: the base of the mass-deactivation guard. */
  notFormer: number;
}

/**
 * Emails that more than one Lucca user of the read carries, over pages in read order. A user read
 * twice (data moving under offset paging) counts once, as first read — as the planner sees it.
 */
export class DuplicateEmailFinder {
  readonly #ids = new Set<number>();
  readonly #emails = new Set<string>();
  readonly duplicates = new Set<string>();

  add(users: readonly MappedLuccaUser[]): void {
    for (const user of users) {
      if (user.luccaUserId !== null) {
        if (this.#ids.has(user.luccaUserId)) continue;
        this.#ids.add(user.luccaUserId);
      }
      if (user.kind !== 'ok' || user.fields.email === null) continue;
      if (this.#emails.has(user.fields.email)) this.duplicates.add(user.fields.email);
      else this.#emails.add(user.fields.email);
    }
  }
}

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
  /** Changes that write a profile. */
  writes = 0;

  add(change: PlannedChange): void {
    this.#counts = addToCounts(this.#counts, change);
    if (!isRemoval(change)) this.#fromSeenRecords += 1;
    if (isDeactivation(change)) this.deactivations += 1;
    if (change.target) this.writes += 1;
  }

  get counts(): SyncCounts {
    return { ...this.#counts, seen: this.seen, unchanged: Math.max(0, this.seen - this.#fromSeenRecords) };
  }
}

export interface CompanyPlanContext {
  /** The company's local date, `YYYY-MM-DD`. */
  today: string;
  index: CompanyProfileIndex;
  duplicateEmails: ReadonlySet<string>;
  /** Ids for profiles to create, chosen at plan time so a retried apply upserts the same document. */
  newProfileId: () => string;
}

/**
 * Plans a whole company, page by page in read order (SPEC §4.3–4.6): `planPage` for each page of
 * Lucca users, then `planRemovals` once the read is known complete, then `verdict` for the guard.
 * A Lucca id met again on a later page (data moving under offset paging) is planned once, as first read.
 */
export class CompanyPlanner {
  readonly tally = new PlanTally();
  readonly #seenIds = new Set<number>();

  constructor(private readonly ctx: CompanyPlanContext) {}

  planPage(users: readonly MappedLuccaUser[]): PlannedChange[] {
    const { index, today, duplicateEmails } = this.ctx;
    const changes: PlannedChange[] = [];
    for (const user of users) {
      const { luccaUserId } = user;
      if (luccaUserId !== null) {
        if (this.#seenIds.has(luccaUserId)) continue;
        this.#seenIds.add(luccaUserId);
      }
      this.tally.seen += 1;
      const email = user.kind === 'ok' ? user.fields.email : null;
      const sameEmail = email ? (index.byEmail.get(email) ?? []) : [];
      const change = planLuccaUser(user, {
        today,
        linkedProfile: luccaUserId === null ? null : (index.linkedByUserId.get(luccaUserId) ?? null),
        unlinkedSameEmail: sameEmail.filter((p) => !p.lucca),
        emailTakenByOther: sameEmail.some((p) => p.lucca && p.lucca.userId !== luccaUserId),
        emailDuplicatedInLucca: email !== null && duplicateEmails.has(email),
      });
      if (!change) continue;
      const planned = change.action === 'create' ? { ...change, profileId: this.ctx.newProfileId() } : change;
      this.tally.add(planned);
      changes.push(planned);
    }
    return changes;
  }

  /** Linked profiles whose Lucca user the (complete) read did not contain. */
  planRemovals(): PlannedChange[] {
    const removals: PlannedChange[] = [];
    for (const [userId, profile] of this.ctx.index.linkedByUserId) {
      if (this.#seenIds.has(userId)) continue;
      const change = planRemoval(profile);
      if (!change) continue;
      this.tally.add(change);
      removals.push(change);
    }
    return removals;
  }

  verdict(guard: DeactivationGuard, allowMassDeactivation: boolean) {
    const activeProfiles = this.ctx.index.notFormer;
    const { blocked, limit } = guardDeactivations({
      deactivations: this.tally.deactivations,
      activeProfiles,
      guard,
      allowMassDeactivation,
    });
    return { blocked, limit, activeProfiles, deactivations: this.tally.deactivations };
  }
}

/** Counts a whole plan (see `PlanTally`). */
export function countChanges(changes: Iterable<PlannedChange>, seen: number): SyncCounts {
  const tally = new PlanTally();
  tally.seen = seen;
  for (const change of changes) tally.add(change);
  return tally.counts;
}
