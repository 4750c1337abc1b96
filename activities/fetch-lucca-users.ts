import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { decryptApiKey } from '../db/api-key-cipher';
import { failureType } from '../domain/failures';
import type { GuardCeiling } from '../domain/guards';
import { mapLuccaUserWithExtras } from '../domain/extra-fields';
import {
  isAllowedLuccaUrl,
  LuccaClient,
  LUCCA_PAGE_SIZE,
  modifiedTimeOf,
  START_OF_USERS,
  type LuccaModifiedField,
  type LuccaUsersReadOptions,
  type UsersPagingPosition,
} from '../lucca/client';
import { comparableSince, decideRead, fullReadEveryMs, luccaSince } from '../domain/run-kinds';
import type { LuccaPlacement, MappedLuccaUser, RunKind } from '../domain/types';
import type { CompanyDocument } from '../db/companies-repository';
import type { ProfileDocument } from '../db/profiles-repository';
import type { RunReadRecord, RunScope } from '../db/sync-runs-repository';
import { READ_LEAD_DEFER_MS, SharedLuccaBudget, type LeadWait } from '../lucca/shared-budget';
import { isInLuccaScope } from '../lucca/scope';
import { extraFieldsOf, scopeOf } from '../db/companies-repository';
import { luccaRequestCounter } from './metrics';
import { watchProgress } from './progress';
import { RunPlan, type LocateUsers, type PlanResult, type PlanStep } from './run-plan';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

export interface ReadInput extends SyncRunRef {
  /**
   * Ignored, as are `overrideCeilings` (older workflows send them): a run lifts a guard only as the
   * override of the blocked run its document names (`overrideOf`), whose reviewed changes are in
   * MongoDB — a bare `allowMassDeactivation` lifts nothing.
   */
  allowMassDeactivation?: boolean;
  overrideCeilings?: GuardCeiling[];
  /** What the run reads (see `RunKind`); absent from workflows of earlier versions: a full read. */
  kind?: RunKind;
  /** A one-user run's Lucca user. */
  luccaUserId?: number;
}

export interface ReadResult {
  pagesRead: number;
  usersRead: number;
  /** False when Lucca's data moved under the read: absence from it then proves nothing. */
  removalsSafe: boolean;
  /**
   * The run's plan, made while reading. Absent from runs recorded before the read planned: their
   * workflow plans the staged pages with `planSync`.
   */
  plan?: PlanResult;
  /** What the run read in the end (absent from runs recorded before run kinds: a full read). */
  kind?: RunKind;
}

/** Heartbeat details of the read: where to resume it, and how far its plan got. Positions and counts only. */
interface ReadCheckpoint {
  read: UsersPagingPosition;
  step: PlanStep;
  done: number;
  /** An incremental read Lucca answered with users not modified since: it is a full read. */
  ignored?: boolean;
}

const IGNORED_FILTER =
  'Lucca ignored the modification filter and answered with every user: the run read everyone, as a full read';

/** Pages the read may stage ahead of the plan (held in memory until planned); a test reads 24 pages ahead of it. */
export const PAGES_AHEAD = 2;

export function createFetchLuccaUsers(deps: SyncActivityDeps) {
  const { repos, now, stallTimeoutMs, shutdown, loadCompany, checkConnection, resolveOverride } = runContext(deps);

  /**
   * Reads every Lucca user of the company, a page at a time, into the run's staging (a document
   * per page) and plans each page as it comes, so that under Lucca's rate limit the planning is
   * done in the waits between requests; then completes the plan (see `RunPlan.finish`). Resumes
   * from the last heartbeated position when retried: the pages staged before it are planned again
   * from their copies, not read again, and a page read again replaces its copy.
   */
  /** How a run asked to be `kind` reads (see `decideRead`); recorded once, by its first attempt. */
  async function decide(company: CompanyDocument, kind: RunKind): Promise<RunReadRecord> {
    if (kind !== 'incremental') return { kind };
    const decision = decideRead({
      requested: kind,
      now: now(),
      timeZone: company.timezone,
      connectionId: company.lucca.connectionId ?? null,
      fullReadEveryMs: fullReadEveryMs(company.sync.fullReadEvery),
      ...(await repos.syncRuns.lastAppliedReads(company._id)),
    });
    if (decision.kind === 'incremental') {
      return { kind: 'incremental', since: luccaSince(decision.since), field: decision.field };
    }
    return { kind: 'full', ...('why' in decision ? { fullBecause: decision.why } : {}) };
  }

  async function fetchLuccaUsers(input: ReadInput): Promise<ReadResult> {
    const { companyId, runId } = input;
    const ctx = Context.current();
    const company = await loadCompany(companyId);
    if (!company.lucca.apiKey) {
      throw ApplicationFailure.create({
        type: failureType('lucca-auth'),
        message: `Company ${companyId} has no Lucca API key (offboarded?). Run onboard again with a key from the company's Lucca admin.`,
        nonRetryable: true,
      });
    }
    const readWith = await repos.syncRuns.recordConnection(runId, company.lucca.connectionId ?? null);
    checkConnection(company, readWith, 'since this run started reading');
    const { review, override } = await resolveOverride(company, runId);
    // A scope changed since the last applied run: the report says so, and marks who entered it.
    const scoped = await repos.syncRuns.recordScope(runId, companyId, scopeOf(company));
    const previousScope = scoped.change ? scoped.change.from : null;
    const enteredScope =
      previousScope &&
      ((placement: LuccaPlacement) =>
        !isInLuccaScope(previousScope, placement.legalEntity?.id ?? null, placement.department?.id ?? null));
    const requested: RunKind = input.kind ?? 'full';
    const decided = await repos.syncRuns.recordRead(runId, await decide(company, requested));
    const resumeFrom = readPosition(ctx.info.heartbeatDetails);
    let ignored = readIgnored(ctx.info.heartbeatDetails);
    const start: ReadCheckpoint = { read: resumeFrom, step: 'profiles', done: 0, ...(ignored ? { ignored } : {}) };
    const describe = (c: ReadCheckpoint) =>
      `page ${c.read.page + 1} (Lucca offset ${c.read.offset})` +
      (c.step === 'pages' ? '' : ` while planning (${c.step}, ${c.done} done)`);
    const baseUrl = company.lucca.baseUrl;
    if (!isAllowedLuccaUrl(baseUrl, deps.lucca.allowedHosts)) {
      throw ApplicationFailure.create({
        type: failureType('configuration'),
        message: `Company ${companyId}'s Lucca URL ${baseUrl} is not a Lucca host this worker may send a key to (LUCCA_ALLOWED_HOSTS); nothing was sent. Onboard the company again with its Lucca URL.`,
        nonRetryable: true,
      });
    }
    const apiKey = decryptApiKey(deps.keyring, { companyId, baseUrl }, company.lucca.apiKey);
    // Another company's read of the tenant goes first: the run's progress and the worker's log say
    // so (ids and durations only; which company leads is not named). Written in order, best effort.
    let waitNoted: Promise<void> = Promise.resolve();
    const onLeadWait = (wait: LeadWait) => {
      if (wait.waiting) {
        log.info('Read waits for another read of its Lucca tenant to go first', {
          companyId,
          runId,
          atMostMs: Math.max(0, wait.atMostUntil - now().getTime()),
        });
      } else {
        log.info('Read waited for another read of its Lucca tenant', { companyId, runId, waitedMs: wait.waitedMs });
      }
      const waiting = wait.waiting
        ? { for: 'tenant-read' as const, since: now(), atMostUntil: new Date(wait.atMostUntil) }
        : null;
      waitNoted = waitNoted.then(() => repos.syncRuns.setWaiting(runId, waiting)).catch(() => undefined);
    };
    const client = new LuccaClient({
      baseUrl,
      apiKey,
      timeoutMs: deps.lucca.timeoutMs,
      maxPageBytes: deps.lucca.maxPageBytes,
      // The tenant's budget is shared through the store with every worker and command that calls it.
      limiter: deps.lucca.rateLimit
        ? new SharedLuccaBudget(repos.luccaBudgets, baseUrl, {
            ...deps.lucca.rateLimit,
            // A full or incremental read lets another company's read of the tenant go first (for a
            // while, well within the stall clock); one employee re-synced for an admin does not wait.
            leadDeferMs: decided.kind === 'one-user' ? 0 : Math.min(READ_LEAD_DEFER_MS, stallTimeoutMs / 2),
            onLeadWait,
          })
        : null,
      pageSize: deps.lucca.pageSize ?? LUCCA_PAGE_SIZE,
      onRequest: luccaRequestCounter(ctx.metricMeter),
    });
    return await watchProgress('Reading Lucca', start, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      let position = resumeFrom;
      const checkpoint = (step: PlanStep, done: number) =>
        watch.checkpoint({ read: position, step, done, ...(ignored ? { ignored } : {}) });
      // The plan follows the read a few pages behind: Lucca's first requests go out while the
      // company's profiles load (at 100,000 that takes seconds, which would otherwise shift the
      // rate limit's window).
      const startPlan = (profiles: 'company' | 'none' = 'company', keepWhole?: (profile: ProfileDocument) => boolean) =>
        RunPlan.start({
          repos,
          company,
          runId,
          fresh: ctx.info.attempt === 1,
          now: now(),
          progress: checkpoint,
          profiles,
          ...(enteredScope ? { enteredScope } : {}),
          ...(keepWhole ? { keepWhole } : {}),
        });
      // An incremental read loads the company's profiles only once it has someone to plan: FerretDB
      // decodes every profile of the collection to read them (most of an unchanged incremental run's
      // time at 100,000), and an incremental read usually returns nobody or a few people.
      const lazy = decided.kind === 'incremental' && resumeFrom.page === 0;
      let starting: Promise<RunPlan> | null = lazy ? null : startPlan();
      // Started by its first page of someone, an incremental plan keeps whole the profiles that
      // page may change: their rewrite then deletes them as read here instead of reading the
      // company again (a pass over every profile of the collection on FerretDB). A store whose
      // updates find their profile by index never rewrites (see `rewriteFrom`): nothing to keep.
      const rewrites = lazy && Number.isFinite((await repos.profiles.capabilities()).rewriteFrom);
      const planNow = (first: readonly MappedLuccaUser[]) =>
        (starting ??= startPlan('company', rewrites ? mayChange(first) : undefined));
      // Pages an earlier attempt staged are planned from their copies, not read again.
      let planned: Promise<unknown> = starting
        ? starting.then((p) => (resumeFrom.page > 0 ? p.stagedPages(resumeFrom.page) : undefined))
        : Promise.resolve();
      // Observed at the next wait, or after the read; a read that fails first makes them moot.
      planned.catch(() => undefined);
      let behind = 0;
      // Lucca filters to the company's scope and the client checks every user again: those outside
      // it are dropped here, before anything of them is staged, planned or logged. Every read carries
      // each user's legal entity and department (the same requests), recorded on the profiles.
      const scope = scopeOf(company) ?? undefined;
      const since = decided.kind === 'incremental' && decided.since ? decided.since : null;
      const oneUser = decided.kind === 'one-user' ? requireLuccaUserId(input) : null;
      // Incremental and one-user reads check the scope here only: a user who moved out of it then
      // comes back (in `outOfScope`), and is deactivated as such; a filtered read would not show them.
      // The company's extra fields, read with the core ones; part of the connection, so fixed for the run.
      const extras = extraFieldsOf(company);
      const options: LuccaUsersReadOptions = {
        scope,
        organisation: true,
        extras: extras.fields,
        ...(since
          ? { modifiedSince: { field: decided.field ?? 'modifiedAt', since }, scopeCheckedHereOnly: true }
          : {}),
        ...(oneUser !== null ? { ids: [oneUser], scopeCheckedHereOnly: true } : {}),
      };
      const leftScope = new Set<number>();
      let seenField: LuccaModifiedField | undefined;
      // A date roll reads nothing: the store's own dates are all it plans from.
      const pages = decided.kind === 'dates' ? noPages() : client.usersPages(resumeFrom, watch.signal, options);
      for await (const read of pages) {
        for (const user of read.outOfScope) if (user.id !== null) leftScope.add(user.id);
        if (since) {
          for (const item of read.items) {
            const modified = modifiedTimeOf(item);
            seenField ??= modified?.field;
            // Only a user older than asked proves the filter was ignored; a missing time proves nothing.
            if (modified && modified.at < comparableSince(since)) ignored = true;
          }
        }
        const users = read.items.map((item) => mapLuccaUserWithExtras(item, extras));
        await repos.workingData.stagePage(runId, read.page, read.requestOffset, users);
        behind += 1;
        // Once the plan has started every page goes to it; before, a page of nobody plans nothing.
        const toPlan = starting !== null || users.length > 0 || read.outOfScope.length > 0 ? planNow(users) : null;
        planned = planned.then(async () => {
          if (toPlan) await (await toPlan).page(read.page, users);
          behind -= 1;
        });
        planned.catch(() => undefined);
        if (behind > PAGES_AHEAD) await planned;
        position = read.next;
        checkpoint('pages', position.page);
        await repos.syncRuns.setProgress(runId, {
          pagesRead: position.page,
          usersRead: position.offset,
          phase: 'reading',
        });
      }
      await planned;
      // A read that returned nobody has nothing to match: its plan is empty and reads no profile.
      const plan = await (starting ?? startPlan('none'));
      const kind: RunKind = decided.kind === 'incremental' && ignored ? 'full' : decided.kind;
      // Only a read of everyone can tell "nobody" from a wrong answer.
      if (kind === 'full' && position.offset === 0 && plan.linkedProfiles > 0) {
        throw ApplicationFailure.create({
          type: failureType('lucca-empty'),
          message:
            `Lucca answered with no user at all for company ${companyId}, which has ${plan.linkedProfiles} linked profiles: ` +
            `a tenant keeps its leavers, so this is a wrong answer (a key whose role sees nobody, another tenant's key, ` +
            `a tenant emptied by mistake), not ${plan.linkedProfiles} departures. Nothing was changed. ` +
            `Check the key's role and the company's Lucca URL, then sync again.`,
          nonRetryable: true,
        });
      }
      // An earlier attempt resumed from an older heartbeat may have staged pages past this read's end.
      await repos.workingData.dropPagesFrom(runId, position.page);
      checkConnection(await loadCompany(companyId), readWith, 'while this run was reading Lucca');
      const removalsSafe = !position.moved && kind === 'full';
      // A linked user a scoped read did not return left the scope or left Lucca: Lucca says which.
      const locate: LocateUsers | undefined =
        (kind === 'full' || undefined) &&
        scope &&
        (async (ids) => {
          const found = await client.locateUsers(ids, watch.signal, (requests) =>
            watch.checkpoint({ read: position, step: 'locating', done: requests }),
          );
          const places = new Map<number, 'in-scope' | 'out-of-scope'>();
          for (const [id, place] of found) {
            plan.noteUnits(place);
            const inside = isInLuccaScope(scope, place.legalEntity?.id ?? null, place.department?.id ?? null);
            places.set(id, inside ? 'in-scope' : 'out-of-scope');
          }
          return places;
        });
      // Only a full read sees an absence. An incremental or one-user read may deactivate only those
      // it saw outside the scope — and the one user asked for, when Lucca no longer has them.
      const absentOnly =
        kind === 'one-user' && oneUser !== null
          ? {
              ids: new Set([oneUser]),
              places: new Map(leftScope.has(oneUser) ? [[oneUser, 'out-of-scope' as const]] : []),
            }
          : kind === 'incremental'
            ? { ids: leftScope, places: new Map([...leftScope].map((id) => [id, 'out-of-scope' as const])) }
            : undefined;
      const finished = await plan.finish({
        detectRemovals: removalsSafe,
        review,
        override,
        locate,
        ...(absentOnly ? { absentOnly } : {}),
        // Only a date run rolls dates (the company's date schedule, just after its local midnight):
        // an incremental run plans the users it read, and so costs what it read.
        rollDates: kind === 'dates',
      });
      if (scoped.change) {
        const { tally } = plan;
        await repos.syncRuns.recordScopeOutcome(runId, {
          deactivatedOutOfScope: tally.outOfScope,
          enteredScope: tally.enteredScope,
          from: withNames(scoped.change.from, plan.unitNames),
          to: withNames(scoped.change.to, plan.unitNames),
        });
      }
      await repos.syncRuns.recordKind(runId, kind, requested, {
        ...(kind !== decided.kind ? { fullBecause: IGNORED_FILTER } : {}),
        ...(seenField ? { field: seenField } : {}),
      });
      // A complete read saw each of these users now, whatever the run goes on to write.
      if (kind !== 'dates') await repos.luccaSightings.record(companyId, baseUrl, runId, now(), plan.seenUsers);
      return { pagesRead: position.page, usersRead: position.offset, removalsSafe, plan: finished, kind };
    });
  }

  return fetchLuccaUsers;
}

/** A recorded scope with the names of its units the run saw (kept from an earlier record otherwise). */
function withNames(
  scope: RunScope | null,
  seen: { legalEntities: ReadonlyMap<number, string>; departments: ReadonlyMap<number, string> },
): RunScope | null {
  if (!scope) return null;
  const named = (ids: number[], names: ReadonlyMap<number, string>, kept: Record<string, string> = {}) =>
    Object.fromEntries(
      ids.flatMap((id) => {
        const name = names.get(id) ?? kept[String(id)];
        return name === undefined ? [] : [[String(id), name]];
      }),
    );
  return {
    legalEntityIds: scope.legalEntityIds,
    departmentIds: scope.departmentIds,
    names: {
      legalEntities: named(scope.legalEntityIds, seen.legalEntities, scope.names?.legalEntities),
      departments: named(scope.departmentIds, seen.departments, scope.names?.departments),
    },
  };
}

/** Whether a profile may be one these users' changes write: linked to one of them, or holding one's email. */
function mayChange(users: readonly MappedLuccaUser[]): (profile: ProfileDocument) => boolean {
  const ids = new Set<number>();
  const emails = new Set<string>();
  for (const user of users) {
    if (user.luccaUserId !== null) ids.add(user.luccaUserId);
    if (user.kind === 'ok' && user.fields.email !== null) emails.add(user.fields.email);
  }
  return (profile) =>
    (profile.lucca !== undefined && ids.has(profile.lucca.userId)) ||
    (typeof profile.email === 'string' && emails.has(profile.email));
}

/** Whether a retried attempt's heartbeat says Lucca ignored the modification filter. */
function readIgnored(details: unknown): boolean {
  return !!details && typeof details === 'object' && (details as Partial<ReadCheckpoint>).ignored === true;
}

async function* noPages(): AsyncGenerator<never> {}

function requireLuccaUserId(input: ReadInput): number {
  const id = input.luccaUserId;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw ApplicationFailure.create({
      type: failureType('configuration'),
      message: `A one-user run of company ${input.companyId} needs a Lucca user id; nothing was read.`,
      nonRetryable: true,
    });
  }
  return id;
}

/** The read's resume position from a retried attempt's heartbeat (earlier versions heartbeated the position alone). */
function readPosition(details: unknown): UsersPagingPosition {
  if (!details || typeof details !== 'object') return START_OF_USERS;
  return 'read' in details ? (details as ReadCheckpoint).read : (details as UsersPagingPosition);
}
