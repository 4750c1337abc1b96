import { extraDiffKey, hasExtraValue, isExtraDiffKey, sameExtraValue } from './extra-fields';
import { reason } from './reasons';
import { statusFor } from './status';
import {
  PLACEMENT_FIELDS,
  SYNCED_FIELDS,
  type ChangeAction,
  type LuccaPlacement,
  type PlacementUnit,
  type FieldDiff,
  type MappedLuccaUser,
  type PlannedChange,
  type PlannedFrom,
  type ProfileSnapshot,
  type ProfileStatus,
  type ExtraValues,
  type Reason,
  type SyncCounts,
  type SyncedField,
  type SyncedFields,
} from './types';

/** What the planner must know about the platform side of one Lucca user, gathered by the caller. */
export interface UserPlanContext {
  /** The company's local date, `YYYY-MM-DD` (see `companyToday`). */
  today: string;
  /** The profile whose `lucca.userId` is this user's id, if any. */
  linkedProfile: ProfileSnapshot | null;
  /** Unlinked profiles of the same company whose email equals the user's normalised email. */
  unlinkedSameEmail: ProfileSnapshot[];
  /** The profile linked to a different Lucca user that has the user's email, if any. */
  emailTakenBy: ProfileSnapshot | null;
  /** Another Lucca user of the same company has the same normalised email. */
  emailDuplicatedInLucca: boolean;
}

type OkUser = Extract<MappedLuccaUser, { kind: 'ok' }>;

const isEmailIssue = (r: Reason): boolean => r.code === 'missing-email' || r.code === 'invalid-email';
// Unusable values (a bad date, an extra field not of its type) ride along on the user's change.
const dateIssues = (user: OkUser): Reason[] =>
  user.issues.filter((r) => r.code === 'invalid-date' || r.code === 'invalid-value');

/** What the extra fields of a change write, and how they differ from what the profile holds. */
interface ExtraPlan {
  /** Each of the company's extra fields (and cleared keys): the value to write. Absent when it reads none. */
  target?: ExtraValues;
  diff: FieldDiff;
  /** Keys whose value the platform edited since the last sync and the change replaces. */
  overwritten: string[];
}

/**
 * The extra values to write over `held` (the profile's `lucca.extra`) and their from → to. `synced`
 * is what the last sync wrote: a held value that differs from it is a platform edit. `create`: only
 * values there are, like the core fields of a new profile.
 */
function extraChanges(
  target: ExtraValues | undefined,
  held: ExtraValues | null | undefined,
  synced: ExtraValues | null | undefined,
  create = false,
): ExtraPlan {
  const plan: ExtraPlan = { diff: {}, overwritten: [] };
  if (!target) return plan;
  plan.target = target;
  for (const [key, to] of Object.entries(target)) {
    const from = held?.[key] ?? null;
    if (sameExtraValue(from, to) || (create && !hasExtraValue(to))) continue;
    plan.diff[extraDiffKey(key)] = { from, to };
    if (synced && !sameExtraValue(from, synced[key])) plan.overwritten.push(key);
  }
  return plan;
}

/** The extra values of a Lucca user for a profile: Lucca's, except unusable ones, which keep the profile's. */
function extraTarget(user: OkUser, profile: ProfileSnapshot | null): ExtraValues | undefined {
  if (!user.extra) return undefined;
  const target = { ...user.extra };
  for (const key of user.unusableExtra ?? []) target[key] = profile?.lucca?.extra?.[key] ?? null;
  return target;
}

const withExtra = (extra: ExtraValues | undefined): { extra?: ExtraValues } => (extra ? { extra } : {});

/** The values to write: Lucca's, except where Lucca's value is unusable (a bad date), which never blanks a stored one. */
function targetFields(user: OkUser, profile: ProfileSnapshot | null): SyncedFields {
  const target = { ...user.fields };
  for (const field of user.unusable ?? []) target[field] = profile?.fields[field] ?? null;
  return target;
}

/** A change's `unusable` fields, when the user has any. */
const unusableOf = (user: OkUser): Pick<PlannedChange, 'unusable'> =>
  user.unusable?.length ? { unusable: [...user.unusable] } : {};

function withProfile(profile: ProfileSnapshot | null | undefined): { profileId?: string } {
  // Conditional spread rather than `profileId: undefined`: the change becomes a MongoDB document, and the
  // driver would store an explicit undefined as null.
  return profile ? { profileId: profile.id } : {};
}

/** Field-level differences between a profile's current values and the values to write. */
function diffFields(from: SyncedFields, to: SyncedFields): FieldDiff {
  const diff: FieldDiff = {};
  for (const field of SYNCED_FIELDS) {
    if (from[field] !== to[field]) diff[field] = { from: from[field], to: to[field] };
  }
  return diff;
}

const sameUnit = (a: PlacementUnit | null, b: PlacementUnit | null): boolean =>
  a === null ? b === null : b !== null && a.id === b.id && a.name === b.name;

/** How a report shows a unit: its name, or its id when Lucca sent no name. */
const unitLabel = (unit: PlacementUnit | null): string | null => (unit === null ? null : (unit.name ?? `#${unit.id}`));

/**
 * Where the read places the user against where the profile records it (nothing recorded: nowhere),
 * unit by unit; a renamed unit differs too. Nothing when the read did not carry the placement.
 */
function diffPlacement(from: LuccaPlacement | undefined, to: LuccaPlacement | undefined): FieldDiff {
  const diff: FieldDiff = {};
  if (!to) return diff;
  for (const field of PLACEMENT_FIELDS) {
    const before = from?.[field] ?? null;
    if (!sameUnit(before, to[field])) diff[field] = { from: unitLabel(before), to: unitLabel(to[field]) };
  }
  return diff;
}

/** A change's target with the user's placement, when the read carried it. */
const withPlacement = (user: OkUser): { placement?: LuccaPlacement } =>
  user.placement ? { placement: user.placement } : {};

function statusTransitionReasons(from: ProfileStatus, to: ProfileStatus): Reason[] {
  if (from !== 'former' && to === 'former') {
    return [reason('contract-ended', 'the contract end date has passed; the profile becomes former')];
  }
  if (from === 'former' && to !== 'former') {
    return [reason('rehired', 'the employee has a current or upcoming contract again; the profile is reactivated')];
  }
  return [];
}

/**
 * Decides what one Lucca user means for the platform. Returns null when the profile is
 * already in line, so a re-run over unchanged data plans nothing. Per-record issues (invalid dates, a
 * missing email on a linked user) ride along as reasons on a change but never create one by themselves,
 * for the same reason.
 */
export function planLuccaUser(user: MappedLuccaUser, ctx: UserPlanContext): PlannedChange | null {
  if (user.kind === 'skip') {
    return { action: 'skip', luccaUserId: user.luccaUserId, ...withProfile(ctx.linkedProfile), reasons: user.reasons };
  }
  // From the values the profile will hold: a kept end date keeps a leaver former.
  const status = statusFor(targetFields(user, ctx.linkedProfile), ctx.today);
  return ctx.linkedProfile ? planLinked(user, status, ctx.linkedProfile, ctx) : planUnlinked(user, status, ctx);
}

function planLinked(
  user: OkUser,
  status: ProfileStatus,
  profile: ProfileSnapshot,
  ctx: UserPlanContext,
): PlannedChange | null {
  const target = targetFields(user, profile);
  const emailReasons: Reason[] = [];

  // An email problem must not empty or hijack the login of a profile that is already linked by id:
  // the rest of the record still syncs and the email stays as it is.
  if (target.email === null) {
    target.email = profile.fields.email;
    for (const issue of user.issues.filter(isEmailIssue)) {
      emailReasons.push(reason(issue.code, `${issue.message}; the profile keeps its current email`));
    }
  } else if (target.email !== profile.fields.email) {
    if (ctx.emailDuplicatedInLucca) {
      target.email = profile.fields.email;
      emailReasons.push(
        reason(
          'duplicate-email-in-lucca',
          'another Lucca user has the same email; the profile keeps its current email',
        ),
      );
    } else {
      // One login per person: an email another profile of the company holds, linked or not, is not
      // given to a second one.
      const holder = ctx.emailTakenBy ?? ctx.unlinkedSameEmail[0];
      if (holder) {
        target.email = profile.fields.email;
        emailReasons.push(
          reason(
            'email-taken',
            `the new email belongs to ${describeHolder(holder)}; the profile keeps its current email`,
          ),
        );
      }
    }
  }

  const extras = extraChanges(extraTarget(user, profile), profile.lucca?.extra, profile.lucca?.syncedExtra);
  const fields: FieldDiff = { ...diffFields(profile.fields, target), ...extras.diff };
  // A move or a renamed unit alone is an update too: the console lists people by where they sit.
  const placed = diffPlacement(profile.lucca?.placement, user.placement);
  const wasRemoved = profile.lucca?.removedAt != null;
  const wasOutOfScope = profile.lucca?.outOfScopeAt != null;
  if (
    Object.keys(fields).length === 0 &&
    Object.keys(placed).length === 0 &&
    profile.status === status &&
    !wasRemoved &&
    !wasOutOfScope
  ) {
    // A withheld email, or a stored date kept against an unusable one, is a lasting difference from
    // Lucca that someone must resolve, so it is reported on every run like any other conflict; a
    // missing email is a deliberate keep and plans nothing.
    const withheld = emailReasons.filter((r) => r.code === 'duplicate-email-in-lucca' || r.code === 'email-taken');
    const keptExtra = (user.unusableExtra ?? []).some((key) => hasExtraValue(profile.lucca?.extra?.[key]));
    if ((user.unusable ?? []).some((field) => profile.fields[field] !== null) || keptExtra) {
      withheld.push(...dateIssues(user));
    }
    return withheld.length > 0
      ? { action: 'conflict', luccaUserId: user.luccaUserId, profileId: profile.id, reasons: withheld }
      : null;
  }
  if (profile.status !== status) fields.status = { from: profile.status, to: status };
  Object.assign(fields, placed);

  let action: ChangeAction = 'update';
  let transition = statusTransitionReasons(profile.status, status);
  if (wasOutOfScope && !wasRemoved && transition[0]?.code !== 'contract-ended') {
    // Back in the company's scope: the profile was made former for being outside it, not for its contract.
    action = 'reactivate';
    transition = [reason('rehired', "the user is back in the company's scope; the profile is reactivated")];
  } else if (transition[0]?.code === 'contract-ended') action = 'deactivate';
  else if (transition[0]?.code === 'rehired') action = 'reactivate';
  else if (wasRemoved) {
    // The user reappeared after a removal: the apply step must clear `lucca.removedAt`, and the report
    // should show the return even when the status itself does not move.
    action = 'reactivate';
    transition.push(reason('rehired', 'the user is back in Lucca after having been removed'));
  }

  const syncedValues = profile.lucca?.syncedValues ?? null;
  const overwritten = syncedValues
    ? SYNCED_FIELDS.filter((field) => field in fields && profile.fields[field] !== syncedValues[field])
    : [];

  return {
    action,
    luccaUserId: user.luccaUserId,
    profileId: profile.id,
    fields,
    target: { fields: target, status, ...withExtra(extras.target), ...withPlacement(user) },
    from: plannedFrom(profile, extras.target),
    ...unusableOf(user),
    reasons: [
      ...transition,
      ...emailReasons,
      ...dateIssues(user),
      ...overwritten.map(overwrittenReason),
      ...extras.overwritten.map(overwrittenExtraReason),
    ],
  };
}

/**
 * What a change is planned against. With `extra` (the extra values it writes), also what the
 * profile holds under those keys: a platform edit of one landing before the apply is then seen
 * there, as one of a core field is, and reported as overwritten.
 */
function plannedFrom(profile: ProfileSnapshot, extra?: ExtraValues): PlannedFrom {
  const from: PlannedFrom = { fields: { ...profile.fields }, status: profile.status };
  if (extra) {
    from.extra = Object.fromEntries(Object.keys(extra).map((key) => [key, profile.lucca?.extra?.[key] ?? null]));
  }
  return from;
}

function overwrittenReason(field: SyncedField): Reason {
  return reason(
    'overwritten-local-edit',
    `${field} was edited on the platform since the last sync; replaced by the Lucca value`,
  );
}

function overwrittenExtraReason(key: string): Reason {
  return reason(
    'overwritten-local-edit',
    `extra field ${key} was edited on the platform since the last sync; replaced by the Lucca value`,
  );
}

function planUnlinked(user: OkUser, status: ProfileStatus, ctx: UserPlanContext): PlannedChange | null {
  const email = user.fields.email;
  const candidates = email === null ? [] : ctx.unlinkedSameEmail;

  // Checked before any email problem: someone who left before the platform knew them would never be
  // created anyway, so reporting their email as a conflict on every run would only be noise.
  if (status === 'former' && candidates.length === 0) {
    return {
      action: 'skip',
      luccaUserId: user.luccaUserId,
      reasons: [reason('former-employee', 'the contract ended before the platform knew the employee; not created')],
    };
  }
  if (email === null) {
    const emailReasons = user.issues
      .filter(isEmailIssue)
      .map((issue) => reason(issue.code, `${issue.message}; the user cannot be matched to or create a profile`));
    return { action: 'skip', luccaUserId: user.luccaUserId, reasons: [...emailReasons, ...dateIssues(user)] };
  }

  const single = candidates.length === 1 ? candidates[0] : undefined;
  if (ctx.emailDuplicatedInLucca) {
    return conflict(user, single, 'duplicate-email-in-lucca', 'another Lucca user has the same email; nothing linked');
  }
  if (ctx.emailTakenBy) {
    return conflict(
      user,
      single,
      'email-taken',
      `the email belongs to ${describeHolder(ctx.emailTakenBy)}; nothing linked`,
    );
  }
  if (candidates.length > 1) {
    return conflict(
      user,
      undefined,
      'ambiguous-match',
      `${candidates.length} unlinked profiles have this email; nothing linked`,
    );
  }

  if (single) {
    const target = targetFields(user, single);
    const linkStatus = statusFor(target, ctx.today);
    // An unlinked profile holds no Lucca extras: a link writes them as a create would.
    const extras = extraChanges(extraTarget(user, null), null, null, true);
    const fields: FieldDiff = { ...diffFields(single.fields, target), ...extras.diff };
    if (single.status !== linkStatus) fields.status = { from: single.status, to: linkStatus };
    Object.assign(fields, diffPlacement(single.lucca?.placement, user.placement));
    return {
      action: 'link',
      luccaUserId: user.luccaUserId,
      profileId: single.id,
      fields,
      target: { fields: target, status: linkStatus, ...withExtra(extras.target), ...withPlacement(user) },
      from: plannedFrom(single),
      ...unusableOf(user),
      reasons: [...statusTransitionReasons(single.status, linkStatus), ...dateIssues(user)],
    };
  }

  const fields: FieldDiff = {};
  for (const field of SYNCED_FIELDS) {
    const value = user.fields[field];
    if (value !== null) fields[field] = { from: null, to: value };
  }
  const extras = extraChanges(extraTarget(user, null), null, null, true);
  Object.assign(fields, extras.diff);
  fields.status = { from: null, to: status };
  Object.assign(fields, diffPlacement(undefined, user.placement));
  return {
    action: 'create',
    luccaUserId: user.luccaUserId,
    fields,
    target: { fields: { ...user.fields }, status, ...withExtra(extras.target), ...withPlacement(user) },
    reasons: dateIssues(user),
  };
}

/** Who holds an email, for the report: the profile by id, and the Lucca user it is linked to. */
function describeHolder(holder: ProfileSnapshot): string {
  return holder.lucca
    ? `profile ${holder.id} (linked to Lucca user ${holder.lucca.userId})`
    : `profile ${holder.id} (not linked to Lucca)`;
}

function conflict(
  user: OkUser,
  profile: ProfileSnapshot | undefined,
  code: Reason['code'],
  message: string,
): PlannedChange {
  return {
    action: 'conflict',
    luccaUserId: user.luccaUserId,
    ...withProfile(profile),
    reasons: [reason(code, message)],
  };
}

/** Why a linked user is absent from a complete read: gone from Lucca, or outside the company's scope. */
export type AbsenceReason = 'removed-from-lucca' | 'out-of-scope';

const ABSENCE_MESSAGES: Readonly<Record<AbsenceReason, string>> = {
  'removed-from-lucca': 'the user no longer appears in Lucca; the profile becomes former',
  'out-of-scope':
    "the user is no longer in the company's legal entities and departments; the profile becomes former in this company",
};

/**
 * For a linked profile whose Lucca user is absent from a COMPLETE read (an incomplete read must plan no
 * removal at all): removed from Lucca, or (found by id outside the company's scope) out of scope. A
 * profile that is already former needs nothing: it stays former, and re-runs stay write-free.
 * Removal does not depend on dates. Only the status moves: nothing of a user outside the scope is read.
 */
export function planRemoval(profile: ProfileSnapshot, why: AbsenceReason = 'removed-from-lucca'): PlannedChange | null {
  if (!profile.lucca || profile.status === 'former') return null;
  return {
    action: 'deactivate',
    luccaUserId: profile.lucca.userId,
    profileId: profile.id,
    fields: { status: { from: profile.status, to: 'former' } },
    target: { fields: { ...profile.fields }, status: 'former' },
    from: plannedFrom(profile),
    reasons: [reason(why, ABSENCE_MESSAGES[why])],
  };
}

/** Reasons for which a linked profile keeps its own email instead of Lucca's (see `planLinked`). */
const EMAIL_KEPT: ReadonlySet<Reason['code']> = new Set([
  'missing-email',
  'invalid-email',
  'duplicate-email-in-lucca',
  'email-taken',
]);

/**
 * The fields a change leaves as the profile has them instead of writing Lucca's: every field for a
 * removal (only the status moves), the email of a linked profile whose Lucca email cannot be used,
 * the fields whose Lucca value is unusable (a bad date).
 */
export function keptFields(change: PlannedChange): readonly SyncedField[] {
  if (isAbsence(change)) return SYNCED_FIELDS;
  const linked = change.action !== 'create' && change.action !== 'link';
  const email: SyncedField[] = linked && change.reasons.some((r) => EMAIL_KEPT.has(r.code)) ? ['email'] : [];
  return [...email, ...(change.unusable ?? [])];
}

/**
 * A change made again against the profile as the apply found it, when the platform wrote to it
 * after the plan. Lucca still wins: its values are written, the fields the change keeps take the
 * platform's new values, "from" is what the platform wrote, and each Lucca value that replaces a
 * platform edit carries `overwritten-local-edit` — an edit since the last sync for a linked
 * profile, since the plan for one being linked. The action and its other reasons stay as planned.
 */
export function rebaseChange(change: PlannedChange, current: ProfileSnapshot): PlannedChange {
  if (!change.target) return change;
  const kept = keptFields(change);
  const target: SyncedFields = { ...change.target.fields };
  for (const field of kept) target[field] = current.fields[field];
  const linking = change.action === 'link' || change.action === 'create';
  const extras = linking
    ? extraChanges(change.target.extra, null, null, true)
    : extraChanges(change.target.extra, current.lucca?.extra, current.lucca?.syncedExtra);
  const fields: FieldDiff = { ...diffFields(current.fields, target), ...extras.diff };
  if (current.status !== change.target.status) fields.status = { from: current.status, to: change.target.status };
  // The platform does not edit the placement: its part of the change stands as planned.
  for (const field of PLACEMENT_FIELDS) if (change.fields?.[field]) fields[field] = change.fields[field];
  const base = current.lucca?.syncedValues ?? change.from?.fields ?? null;
  const overwritten = base
    ? SYNCED_FIELDS.filter((f) => f in fields && !isExtraDiffKey(f) && current.fields[f] !== base[f])
    : [];
  return {
    ...change,
    fields,
    target: {
      fields: target,
      status: change.target.status,
      ...withExtra(extras.target),
      ...(change.target.placement ? { placement: change.target.placement } : {}),
    },
    from: plannedFrom(current, linking ? undefined : extras.target),
    reasons: [
      ...change.reasons.filter((r) => r.code !== 'overwritten-local-edit'),
      ...overwritten.map(overwrittenReason),
      ...extras.overwritten.map(overwrittenExtraReason),
    ],
  };
}

/** A removal from Lucca: the profile is marked `lucca.removedAt`. */
export function isRemoval(change: PlannedChange): boolean {
  return change.reasons.some((r) => r.code === 'removed-from-lucca');
}

/** A deactivation for leaving the company's scope: the profile is marked `lucca.outOfScopeAt`. */
export function isOutOfScope(change: PlannedChange): boolean {
  return change.action === 'deactivate' && change.reasons.some((r) => r.code === 'out-of-scope');
}

/** The changes that do not stem from a Lucca user present in the read: removals, and users gone out of scope. */
export function isAbsence(change: PlannedChange): boolean {
  return isRemoval(change) || isOutOfScope(change);
}

/** The count each action adds to. */
export const COUNTER_OF_ACTION: Readonly<Record<ChangeAction, keyof SyncCounts>> = {
  create: 'created',
  link: 'linked',
  update: 'updated',
  deactivate: 'deactivated',
  reactivate: 'reactivated',
  skip: 'skipped',
  conflict: 'conflicts',
};

/** Adds one change to its action's counter. Leaves `seen` and `unchanged` alone: only the caller knows them. */
export function addToCounts(counts: SyncCounts, change: PlannedChange): SyncCounts {
  const counter = COUNTER_OF_ACTION[change.action];
  return { ...counts, [counter]: counts[counter] + 1 };
}

const SUMMARY_PARTS: readonly [keyof SyncCounts, string, string][] = [
  ['created', 'created', 'created'],
  ['linked', 'linked', 'linked'],
  ['updated', 'updated', 'updated'],
  ['deactivated', 'deactivated', 'deactivated'],
  ['reactivated', 'reactivated', 'reactivated'],
  ['skipped', 'skipped', 'skipped'],
  ['conflicts', 'conflict', 'conflicts'],
];

/** One line for the Temporal UI and logs, e.g. `acme: 3 created, 12 updated, 1 deactivated`. Counts only. */
export function summariseCounts(companyId: string, counts: SyncCounts): string {
  const parts = SUMMARY_PARTS.filter(([key]) => counts[key] > 0).map(
    ([key, singular, plural]) => `${counts[key]} ${counts[key] === 1 ? singular : plural}`,
  );
  return `${companyId}: ${parts.length > 0 ? parts.join(', ') : 'no changes'}`;
}
