import { ObjectId } from 'mongodb';
import type { CompanyDocument } from '../db/companies-repository';
import type { Repositories } from '../db/mongo';
import { toChangeDocument } from '../db/sync-changes-repository';
import type { ApplicableChange, ProfileDocument } from '../db/profiles-repository';
import { guardsOf, type GuardRecord, type GuardReview, type Guards } from '../domain/guards';
import { CompanyPlanner } from '../domain/plan-company';
import { CompanyProfileIndex } from '../domain/profile-index';
import { companyToday } from '../domain/status';
import type { LuccaPlacement, MappedLuccaUser, PlannedChange, SyncCounts } from '../domain/types';

/** An operator's override as the run found it when it started: the blocked run, and why it was not applied when it was not. */
export interface OverrideOutcome {
  of: string;
  /** A sentence (run ids only) saying why the override lifts nothing; absent when it was applied. */
  refused?: string;
}

/** The plan as the workflow sees it: counts, and the guards' verdict (see `GuardRecord`). */
export interface PlanResult extends GuardRecord {
  counts: SyncCounts;
  blocked: boolean;
  writes: number;
  /** Present when the run was asked to apply a blocked run anyway. */
  override?: OverrideOutcome;
}

/** Where the planning of a run is: for heartbeats and stall messages. Counts only. */
export type PlanStep = 'profiles' | 'pages' | 'replan' | 'locating' | 'removals' | 'dates';

/**
 * Where Lucca has each of the given users now, against the company's scope (ids absent from the
 * answer are not in Lucca): what a scoped read needs before it calls anyone removed.
 */
export type LocateUsers = (ids: number[]) => Promise<Map<number, 'in-scope' | 'out-of-scope'>>;

/**
 * Seqs of `syncChanges` set aside per plan slot: a page holds at most Lucca's 1,000 users. With
 * seqs of nine digits, a run holds 99,999 slots (99 million users at Lucca's page size).
 */
export const SEQS_PER_SLOT = 10_000;

/** Most removals planned into one chunk (one `syncChanges` insert, one plan chunk); the scale tests plan eleven. */
const REMOVALS_PER_CHUNK = 100;

/**
 * A run's plan, made page by page as the pages come and written as it is made: each page's
 * changes and record-level problems into `syncChanges` (the report), its profile writes into the
 * run's plan chunks (what apply reads). No profile is written here; `finish` completes the plan
 * once the read is over, and only then may the workflow apply it.
 */
export class RunPlan {
  /** Slots with changes recorded: a page planned again replaces them. */
  readonly #planned = new Set<number>();
  /** The Lucca users the read returned (for "last seen in Lucca"). */
  readonly seenUsers = new Set<number>();
  /** Names of the legal entities and departments the read saw, by id: a scope change's report names them. */
  readonly unitNames = { legalEntities: new Map<number, string>(), departments: new Map<number, string>() };
  #nextSlot = 0;

  private constructor(
    private readonly repos: Repositories,
    private readonly companyId: string,
    private readonly runId: string,
    private readonly guards: Guards,
    private readonly planner: CompanyPlanner,
    private readonly progress: (step: PlanStep, done: number) => void,
    /** Profiles read whole, by id (see `keepWhole`). */
    private readonly kept: ReadonlyMap<string, ProfileDocument>,
  ) {}

  /**
   * Starts the plan of a run: the company's profiles indexed once. `fresh` false (a retried
   * attempt) clears what an earlier attempt planned; a first attempt skips the clear, which would
   * cost FerretDB a scan of every run's changes (1.x has no index pushdown). `profiles: 'none'` is
   * for a read that returned nobody (an incremental run with nothing modified): nothing to match,
   * so no profile is read, and the guards, counting nothing, have no base to measure it against.
   */
  static async start(opts: {
    repos: Repositories;
    company: CompanyDocument;
    runId: string;
    fresh: boolean;
    now: Date;
    progress: (step: PlanStep, done: number) => void;
    /** The company's scope changed since its last applied run: who the previous one left out. */
    enteredScope?: (placement: LuccaPlacement) => boolean;
    /** Whose profiles the plan matches against: the company's (by default), or none. */
    profiles?: 'company' | 'none';
    /**
     * Which profiles to keep whole, read with the index: their updates carry them in the plan
     * (`ApplicableChange.before`), so the apply need not read the company a second time. For a run
     * that reads few people (an incremental one), where that second read would be most of its time.
     */
    keepWhole?: (profile: ProfileDocument) => boolean;
  }): Promise<RunPlan> {
    const { repos, company, runId } = opts;
    if (!opts.fresh) {
      await repos.syncChanges.clearRun(runId);
      await repos.workingData.clearPlan(runId);
    }
    const kept = new Map<string, ProfileDocument>();
    const { keepWhole } = opts;
    const index =
      opts.profiles === 'none'
        ? new CompanyProfileIndex(company.lucca.baseUrl)
        : await repos.profiles.loadCompanyIndex(
            company._id,
            company.lucca.baseUrl,
            (done) => opts.progress('profiles', done),
            keepWhole &&
              ((doc) => {
                if (keepWhole(doc)) kept.set(doc._id.toHexString(), doc);
              }),
          );
    const planner = new CompanyPlanner({
      today: companyToday(company.timezone, opts.now),
      index,
      newProfileId,
      ...(opts.enteredScope ? { enteredScope: opts.enteredScope } : {}),
    });
    return new RunPlan(repos, company._id, runId, guardsOf(company.sync), planner, opts.progress, kept);
  }

  /** The company's profiles linked to a user of the tenant read (a read that finds nobody then is wrong). */
  get linkedProfiles(): number {
    return this.planner.linkedProfiles;
  }

  /** What the plan so far counts, `outOfScope` and `enteredScope` among it. */
  get tally(): { outOfScope: number; enteredScope: number } {
    const { outOfScope, enteredScope } = this.planner.tally;
    return { outOfScope, enteredScope };
  }

  /** Plans and records page `page`, the next of the read. */
  async page(page: number, users: readonly MappedLuccaUser[]): Promise<void> {
    for (const user of users) {
      if (user.luccaUserId !== null) this.seenUsers.add(user.luccaUserId);
      if (user.kind === 'ok' && user.placement) this.noteUnits(user.placement);
    }
    await this.#store(page, this.planner.planPage(page, users), false);
    this.#nextSlot = page + 1;
  }

  /** Keeps the names of a person's legal entity and department. */
  noteUnits(placement: LuccaPlacement): void {
    const { legalEntity, department } = placement;
    if (legalEntity?.name) this.unitNames.legalEntities.set(legalEntity.id, legalEntity.name);
    if (department?.name) this.unitNames.departments.set(department.id, department.name);
  }

  /** Plans the run's staged pages numbered below `before` (all of them by default), in read order. */
  async stagedPages(before = Infinity): Promise<void> {
    for await (const staged of this.repos.workingData.readPages(this.runId)) {
      if (staged.page >= before) break;
      await this.page(staged.page, staged.users);
      this.progress('pages', staged.page + 1);
    }
  }

  /**
   * Completes the plan, the read being over: pages planned before an email of theirs turned out
   * shared are planned again from their staged copy, then — when the read can prove absence —
   * linked profiles whose user was not read are planned as removed, then the guards decide. A
   * blocked plan keeps, per guard, the people its guarded changes touch: what an operator reviews
   * before applying it anyway.
   */
  async finish(opts: {
    detectRemovals: boolean;
    /** An operator's override found valid when the run started (see `guardVerdict`). */
    review: GuardReview | null;
    override?: OverrideOutcome | undefined;
    /** For a scoped read: absent linked users are looked up, and those outside the scope are `out-of-scope`. */
    locate?: LocateUsers;
    /**
     * For a read that cannot prove absence (incremental, one user): the only users that may be
     * planned absent — seen outside the scope, or the one user asked for — and where Lucca has them.
     */
    absentOnly?: { ids: ReadonlySet<number>; places?: ReadonlyMap<number, 'in-scope' | 'out-of-scope'> };
    /** Roll the dates of the linked profiles the read did not return (date runs). */
    rollDates?: boolean;
  }): Promise<PlanResult> {
    const { repos, runId, planner } = this;
    const run = await repos.syncRuns.get(runId);
    await repos.syncRuns.setProgress(runId, { pagesRead: 0, usersRead: 0, ...run?.progress, phase: 'planning' });

    const stale = planner.stalePages();
    if (stale.length > 0) {
      // Deleted together, not page by page: on FerretDB each delete is a scan of every run's changes.
      const recorded = stale.filter((page) => this.#planned.has(page));
      await repos.syncChanges.deleteSeqRanges(
        runId,
        recorded.map((page) => this.#seqRange(page)),
      );
      let replanned = 0;
      for await (const page of repos.workingData.readPages(runId)) {
        if (!stale.includes(page.page)) continue;
        await this.#store(page.page, planner.replanPage(page.page, page.users), true);
        this.progress('replan', ++replanned);
      }
    }
    if (opts.detectRemovals) {
      const absent = opts.locate ? planner.absentLinked() : [];
      const places = absent.length > 0 ? await opts.locate!(absent) : undefined;
      const removals = planner.planRemovals(places);
      for (let i = 0; i < removals.length; i += REMOVALS_PER_CHUNK) {
        await this.#store(this.#nextSlot++, removals.slice(i, i + REMOVALS_PER_CHUNK), false);
        this.progress('removals', i + REMOVALS_PER_CHUNK);
      }
    } else if (opts.absentOnly && opts.absentOnly.ids.size > 0) {
      const removals = planner.planRemovals(opts.absentOnly.places, opts.absentOnly.ids);
      for (let i = 0; i < removals.length; i += REMOVALS_PER_CHUNK) {
        await this.#store(this.#nextSlot++, removals.slice(i, i + REMOVALS_PER_CHUNK), false);
        this.progress('removals', i + REMOVALS_PER_CHUNK);
      }
    }
    if (opts.rollDates) {
      const rolled = planner.planDateRoll();
      for (let i = 0; i < rolled.length; i += REMOVALS_PER_CHUNK) {
        await this.#store(this.#nextSlot++, rolled.slice(i, i + REMOVALS_PER_CHUNK), false);
        this.progress('dates', i + REMOVALS_PER_CHUNK);
      }
    }

    const { counts, writes, guarded } = planner.tally;
    const verdict = planner.verdict(this.guards, opts.review);
    // Kept before the verdict is recorded: a run recorded blocked can always be applied anyway.
    if (verdict.blocked) await repos.reviewed.store(this.companyId, runId, guarded.byKey());
    await repos.syncRuns.recordPlan(
      runId,
      counts,
      {
        deactivations: verdict.deactivations,
        limit: verdict.limit,
        activeProfiles: verdict.activeProfiles,
        fired: verdict.fired,
      },
      opts.detectRemovals,
      planner.otherTenantLinks,
    );
    return { ...verdict, counts, writes, ...(opts.override ? { override: opts.override } : {}) };
  }

  /**
   * Records slot `slot`'s changes under seqs of its own (`slot × SEQS_PER_SLOT` on), so the report
   * reads in page order even when a page is planned again after later ones; a slot `replace`d has
   * had its earlier changes deleted already.
   */
  async #store(slot: number, changes: PlannedChange[], replace: boolean): Promise<void> {
    const { repos, runId, companyId } = this;
    const [first, last] = this.#seqRange(slot);
    if (changes.length > last - first + 1) {
      throw new Error(`A page of ${changes.length} changes is more than a plan slot holds (${last - first + 1}).`);
    }
    await repos.syncChanges.insertMany(changes.map((c, i) => toChangeDocument(runId, companyId, first + i, c)));
    if (changes.length > 0) this.#planned.add(slot);
    const applicable = changes.flatMap((c, i) => {
      if (!isApplicable(c)) return [];
      const before = c.action === 'create' ? undefined : this.kept.get(c.profileId);
      return [{ ...c, seq: first + i, ...(before ? { before } : {}) }];
    });
    await repos.workingData.storePlanSlot(runId, slot, applicable, replace);
  }

  /** The seqs set aside for slot `slot`'s changes, first and last. */
  #seqRange(slot: number): [number, number] {
    return [slot * SEQS_PER_SLOT + 1, (slot + 1) * SEQS_PER_SLOT - 1];
  }
}

const isApplicable = (change: PlannedChange): change is ApplicableChange =>
  change.target !== undefined && typeof change.profileId === 'string' && change.luccaUserId !== null;

/** Profile ids are chosen at plan time so a retried apply upserts the same document. */
const newProfileId = (): string => new ObjectId().toHexString();
