import { EXTRA_DIFF_PREFIX, isExtraDiffKey, sameExtraValue, type ExtraDiffKey, type ExtraValue } from './extra-fields';
import type { RunError } from './failures';
import { SYNCED_FIELDS, type PlannedChange, type SyncedField } from './types';

/**
 * The mass-change guards, in one place: what each counts, its threshold and limit, the verdict
 * on a plan (with or without an operator's reviewed override), the codes and the sentences a
 * blocked run carries, and the one reader of the guard fields older runs stored.
 *
 * A plan is held back when it would change, one way, more of a company's linked profiles than a
 * real day in Lucca does: deactivate, blank a field that had a value, change emails, reactivate,
 * or overwrite a name or a date with another value. Each more likely means a key that lost a
 * permission, a key of another tenant or a bad day in Lucca than a real change of that size.
 */

export type GuardKind = 'deactivate' | 'blank' | 'email' | 'reactivate' | 'overwrite';
export const GUARD_KINDS: readonly GuardKind[] = ['deactivate', 'blank', 'email', 'reactivate', 'overwrite'];

/** A guard's threshold: see `guardLimit`. */
export interface GuardThreshold {
  maxPercent: number;
  minCount: number;
}

export type Guards = Record<GuardKind, GuardThreshold>;

/** Every guard's threshold unless the company sets its own: a real company does not hit it by accident. */
export const DEFAULT_GUARD: GuardThreshold = { maxPercent: 10, minCount: 5 };

/**
 * A company's own thresholds, as `companies.sync` stores them: the deactivation guard's under its
 * name of the time there was one guard, the others' under `guards` when the company set them.
 */
export interface GuardSettings {
  deactivationGuard: GuardThreshold;
  guards?: Partial<Record<Exclude<GuardKind, 'deactivate'>, GuardThreshold>>;
}

/** Where a guard's threshold is stored within `companies.sync` (see `GuardSettings`). */
export function guardSettingPath(kind: GuardKind): string {
  return kind === 'deactivate' ? 'deactivationGuard' : `guards.${kind}`;
}

/** Why a threshold cannot be a guard's, in a sentence; null when it can. */
export function thresholdProblem(threshold: GuardThreshold): string | null {
  if (!(Number.isInteger(threshold.maxPercent) && threshold.maxPercent >= 0 && threshold.maxPercent <= 100)) {
    return `maxPercent must be a whole number from 0 to 100, got ${threshold.maxPercent}.`;
  }
  if (!(Number.isInteger(threshold.minCount) && threshold.minCount >= 0)) {
    return `minCount must be a whole number of profiles, got ${threshold.minCount}.`;
  }
  return null;
}

/** A company's thresholds: `deactivationGuard` for deactivations, `guards` for the others, defaults elsewhere. */
export function guardsOf(sync: Partial<GuardSettings>): Guards {
  return {
    deactivate: sync.deactivationGuard ?? DEFAULT_GUARD,
    blank: sync.guards?.blank ?? DEFAULT_GUARD,
    email: sync.guards?.email ?? DEFAULT_GUARD,
    reactivate: sync.guards?.reactivate ?? DEFAULT_GUARD,
    overwrite: sync.guards?.overwrite ?? DEFAULT_GUARD,
  };
}

/**
 * How many linked profiles a plan may change one way before it is held back, out of `base`, the
 * company's linked profiles that are not former: max(minCount, maxPercent% of them), but never
 * more than half of them. The half keeps a small company safe: with the default minimum of 5, a
 * company of five linked people could otherwise lose all five to one empty answer. So a plan never
 * changes most of a company unreviewed; a company of one cannot lose its only person unreviewed.
 */
export function guardLimit(threshold: GuardThreshold, base: number): number {
  const linked = Math.max(0, base);
  // Multiply before dividing: 0.29 * 100 is 28.999… in floating point, 29 * 100 / 100 is exactly 29.
  const percentLimit = Math.floor((threshold.maxPercent * linked) / 100);
  return Math.min(Math.max(threshold.minCount, percentLimit), Math.floor(linked / 2));
}

/** The fields the overwrite guard watches: a value replaced by another (emails have their own guard). */
export const OVERWRITE_GUARDED_FIELDS: readonly SyncedField[] = [
  'firstName',
  'lastName',
  'birthDate',
  'contractStart',
  'contractEnd',
];

/** What one guard counts: its kind and, for the per-field guards (`blank`, `overwrite`), the field. */
export interface GuardSubject {
  guard: GuardKind;
  /** A core field, or an extra field as `extra:<key>` (the blanking and overwrite guards watch those too). */
  field?: SyncedField | ExtraDiffKey;
}

/** `deactivate`, `email`, `reactivate`, `blank:<field>`, `overwrite:<field>`. */
export type GuardKey = string;
export const guardKey = (s: GuardSubject): GuardKey => (s.field ? `${s.guard}:${s.field}` : s.guard);

/** Every guard key, in the order verdicts and reports list them. */
export const GUARD_KEYS: readonly GuardSubject[] = [
  { guard: 'deactivate' },
  ...SYNCED_FIELDS.filter((f) => f !== 'contractEnd').map((field) => ({ guard: 'blank' as const, field })),
  { guard: 'email' },
  { guard: 'reactivate' },
  ...OVERWRITE_GUARDED_FIELDS.map((field) => ({ guard: 'overwrite' as const, field })),
];

/** Whatever the action, does this change take a profile from active/upcoming to former? */
export function isDeactivation(change: PlannedChange): boolean {
  const status = change.fields?.status;
  return status !== undefined && (status.from === 'active' || status.from === 'upcoming') && status.to === 'former';
}

/**
 * Fields a change empties that had a value. `contractEnd` is left out: an end date going away is
 * a rehire on an open contract, not lost data.
 */
export function blankedFields(change: PlannedChange): (SyncedField | ExtraDiffKey)[] {
  if (!change.fields || change.action === 'create') return [];
  const core = SYNCED_FIELDS.filter((field) => {
    const diff = change.fields?.[field];
    return field !== 'contractEnd' && diff !== undefined && hasValue(diff.from) && !hasValue(diff.to);
  });
  // Extra fields are guarded like the core ones: a key that lost a section empties them all at once.
  const extra = Object.keys(change.fields)
    .filter(isExtraDiffKey)
    .filter((field) => {
      const diff = change.fields?.[field];
      return diff !== undefined && hasValue(diff.from) && !hasValue(diff.to);
    });
  return [...core, ...extra];
}

/** Does this change give an already linked profile another email? */
export function changesEmail(change: PlannedChange): boolean {
  if (change.action === 'create' || change.action === 'link') return false;
  const diff = change.fields?.email;
  return diff !== undefined && hasValue(diff.from) && hasValue(diff.to);
}

/**
 * Names and dates of an already linked profile that a change replaces by another value, and its
 * extra fields likewise (a key of another tenant, or a section's field renamed to another's,
 * rewrites them all at once). A rehire's new contract dates are not counted: they are its
 * reactivation, guarded as such.
 */
export function overwrittenFields(change: PlannedChange): (SyncedField | ExtraDiffKey)[] {
  if (change.action !== 'update' && change.action !== 'deactivate') return [];
  const core = OVERWRITE_GUARDED_FIELDS.filter((field) => {
    const diff = change.fields?.[field];
    return diff !== undefined && hasValue(diff.from) && hasValue(diff.to) && diff.from !== diff.to;
  });
  const extra = Object.keys(change.fields ?? {})
    .filter(isExtraDiffKey)
    .filter((field) => {
      const diff = change.fields?.[field];
      return (
        diff !== undefined &&
        hasValue(diff.from) &&
        hasValue(diff.to) &&
        !sameExtraValue(diff.from as ExtraValue, diff.to as ExtraValue)
      );
    });
  return [...core, ...extra];
}

const hasValue = (v: unknown) => v !== null && v !== undefined && v !== '';

/**
 * Which guards a change counts for. Only changes to profiles already linked count, as the base is
 * the linked profiles: creating and attaching (by email) are the first sync's work, and a link
 * writes Lucca's values over a profile the platform made on its own, by design.
 */
export function guardSubjects(change: PlannedChange): GuardSubject[] {
  if (change.luccaUserId === null) return [];
  if (change.action !== 'update' && change.action !== 'deactivate' && change.action !== 'reactivate') return [];
  const subjects: GuardSubject[] = [];
  if (isDeactivation(change)) subjects.push({ guard: 'deactivate' });
  for (const field of blankedFields(change)) subjects.push({ guard: 'blank', field });
  if (changesEmail(change)) subjects.push({ guard: 'email' });
  if (change.action === 'reactivate') subjects.push({ guard: 'reactivate' });
  for (const field of overwrittenFields(change)) subjects.push({ guard: 'overwrite', field });
  return subjects;
}

/**
 * The people (Lucca ids) a plan's guarded changes touch, per guard key: counted for the verdict,
 * and kept by a blocked run as what an operator reviews (see `GuardReview`).
 */
export class GuardedChanges {
  readonly #ids = new Map<GuardKey, number[]>();

  add(change: PlannedChange): void {
    for (const subject of guardSubjects(change)) {
      const key = guardKey(subject);
      const ids = this.#ids.get(key);
      if (ids) ids.push(change.luccaUserId!);
      else this.#ids.set(key, [change.luccaUserId!]);
    }
  }

  merge(other: GuardedChanges): void {
    for (const [key, ids] of other.#ids) {
      const mine = this.#ids.get(key);
      if (mine) mine.push(...ids);
      else this.#ids.set(key, [...ids]);
    }
  }

  count(subject: GuardSubject): number {
    return this.#ids.get(guardKey(subject))?.length ?? 0;
  }

  /** Lucca ids of the changes counted under `subject`. */
  ids(subject: GuardSubject): readonly number[] {
    return this.#ids.get(guardKey(subject)) ?? [];
  }

  /** Lucca ids per guard key, for every key with at least one change. */
  byKey(): ReadonlyMap<GuardKey, readonly number[]> {
    return this.#ids;
  }

  /** Every key with at least one change, in `GUARD_KEYS` order, then the extra fields' by guard and key. */
  *subjects(): Generator<GuardSubject> {
    for (const subject of GUARD_KEYS) if (this.count(subject) > 0) yield subject;
    for (const guard of ['blank', 'overwrite'] as const) {
      const prefix = `${guard}:${EXTRA_DIFF_PREFIX}`;
      const extra = [...this.#ids.keys()].filter((key) => key.startsWith(prefix)).sort();
      for (const key of extra) yield { guard, field: key.slice(guard.length + 1) as ExtraDiffKey };
    }
  }
}

/** A guard that fired: how many linked profiles the plan would change that way, against its limit. */
export interface GuardHit extends GuardSubject {
  count: number;
  limit: number;
  /**
   * With an operator's override: how many of these changes the reviewed run did not plan (0: all
   * of them were reviewed, so this guard lets the plan through).
   */
  unreviewed?: number;
  /**
   * Runs of an earlier version, overridden up to a reviewed count: the count confirmed, when the
   * plan went past it. Read only, to show those runs.
   */
  reviewed?: number;
}

/** What older versions carried in an override: the reviewed counts. Decoded and ignored now. */
export type GuardCeiling = Pick<GuardHit, 'guard' | 'field' | 'count'>;

/**
 * An operator's "apply anyway", decoded once where a request or a run's input enters (operations,
 * the company workflow's sanitise, the run workflow's input): the blocked run reviewed. The people
 * its guarded changes touch are read in MongoDB by that id when the run starts (`GuardReview`).
 * Wherever there is none, null: every guard holds as it is.
 */
export interface GuardOverride {
  blockedRunId: string;
}

/** The override fields of a run document, as every version stored them. */
export interface OverrideRecord {
  overrideOf?: string;
  /** Stored by earlier versions: the request's bare flag (with or without the run it named). */
  allowMassDeactivation?: boolean;
}

/**
 * Whether a run was asked to apply a blocked run anyway. It names that run (`overrideOf`); runs of
 * versions before overrides named their run carried a bare `allowMassDeactivation` instead.
 */
export function askedToApplyAnyway(run: OverrideRecord): boolean {
  return run.overrideOf !== undefined || run.allowMassDeactivation === true;
}

/** What an operator reviewed: a blocked run, and per guard key the Lucca ids of its guarded changes. */
export interface GuardReview extends GuardOverride {
  people: ReadonlyMap<GuardKey, ReadonlySet<number>>;
}

/** A plan's verdict, as its run records it (`syncRuns.guard`) and its workflow reads it. */
export interface GuardVerdict extends GuardRecord {
  blocked: boolean;
  /** Every guard that fired, in `GUARD_KEYS` order. */
  fired: GuardHit[];
}

/**
 * What the guards measure a plan against: the company's linked profiles that are not former (a
 * reactivation is measured against every linked profile: the former ones are who it brings back,
 * so a company whose people mostly left can still take one back).
 */
export interface GuardBases {
  linkedNotFormer: number;
  linked: number;
}

const baseOf = (kind: GuardKind, bases: GuardBases) => (kind === 'reactivate' ? bases.linked : bases.linkedNotFormer);

/**
 * Whether a plan is held back. Without a review, it is when any guard fires (its count passes its
 * limit). With one (an operator applying a blocked run anyway), a guard that fires lets the plan
 * through only when every change it counts is one the reviewed run planned for the same person;
 * otherwise the plan is blocked again, each fired guard saying how many changes were not reviewed.
 * A guard that does not fire passes either way, as it would without the override.
 */
export function guardVerdict(
  guards: Guards,
  bases: GuardBases,
  guarded: GuardedChanges,
  review: GuardReview | null,
): GuardVerdict {
  const fired: GuardHit[] = [];
  for (const subject of guarded.subjects()) {
    const count = guarded.count(subject);
    const limit = guardLimit(guards[subject.guard], baseOf(subject.guard, bases));
    if (count <= limit) continue;
    const hit: GuardHit = { ...subject, count, limit };
    if (review) {
      const seen = review.people.get(guardKey(subject));
      hit.unreviewed = guarded.ids(subject).filter((id) => !seen?.has(id)).length;
    }
    fired.push(hit);
  }
  const blocked = review ? fired.some((h) => (h.unreviewed ?? 0) > 0) : fired.length > 0;
  return {
    blocked,
    fired,
    deactivations: guarded.count({ guard: 'deactivate' }),
    limit: guardLimit(guards.deactivate, bases.linkedNotFormer),
    activeProfiles: bases.linkedNotFormer,
  };
}

/** A blocked run's `error.code`: the (first) guard that stopped its plan before any write. */
const CODE_BY_GUARD = {
  deactivate: 'mass-deactivation',
  blank: 'mass-blanking',
  email: 'mass-email-change',
  reactivate: 'mass-reactivation',
  overwrite: 'mass-overwrite',
} as const satisfies Record<GuardKind, string>;
export type GuardCode = (typeof CODE_BY_GUARD)[GuardKind];

/** The code a guard goes by in a blocked run's `error.code` (and the metrics' `guard` label). */
export function guardCode(kind: GuardKind): GuardCode {
  return CODE_BY_GUARD[kind];
}

/** The guard fields of a run document or a plan, as every version stored them. */
export interface GuardRecord {
  /** Every guard that fired; absent from runs planned before there was more than one guard. */
  fired?: GuardHit[];
  /** What the deactivation guard counted, and its limit: all older runs say of their one guard. */
  deactivations: number;
  limit: number;
  /** The guards' base: the company's linked profiles that are not former. */
  activeProfiles: number;
}

/**
 * The guards that fired on a run or a plan: the one reader of what every version stored. Runs
 * planned before there was more than one guard carry no `fired` list: their one guard was the
 * deactivations'. A run not yet planned (no guard record) has none.
 */
export function firedGuards(record: GuardRecord | null | undefined): GuardHit[] {
  if (!record) return [];
  return record.fired ?? [{ guard: 'deactivate', count: record.deactivations, limit: record.limit }];
}

const WHAT_GUARD_COUNTS: Record<GuardKind, (hit: GuardHit) => string> = {
  deactivate: (h) => `deactivate ${h.count} profiles`,
  blank: (h) => `blank ${h.field ?? 'a field'} on ${h.count} profiles`,
  email: (h) => `change the email of ${h.count} linked profiles`,
  reactivate: (h) => `reactivate ${h.count} profiles`,
  overwrite: (h) => `overwrite ${h.field ?? 'a field'} on ${h.count} profiles`,
};

const notCovered = (h: GuardHit) => (h.unreviewed ?? 0) > 0 || h.reviewed !== undefined;

/**
 * Why a plan was held back, for the run's `error`: every guard that fired, with its count and
 * limit, and with an override how many changes the reviewed run did not plan. Counts and run ids
 * only.
 */
export function blockedPlanError(
  plan: GuardRecord & {
    /** The blocked run this one applied anyway, and why its override was not applied when it was not. */
    override?: { of: string; refused?: string };
  },
): RunError {
  const fired = firedGuards(plan);
  const what = fired
    .map((h) => {
      const bound =
        (h.unreviewed ?? 0) > 0
          ? `${h.unreviewed} not reviewed`
          : h.reviewed !== undefined
            ? `more than the ${h.reviewed} confirmed`
            : `limit ${h.limit}`;
      return `${WHAT_GUARD_COUNTS[h.guard](h)} (${bound})`;
    })
    .join(', ');
  // The guard to name first is one the override did not cover, when this plan went past one.
  const first = fired.find(notCovered) ?? fired[0];
  const unreviewed = fired.reduce((n, h) => n + (h.unreviewed ?? 0), 0);
  const override = plan.override;
  const why = !override
    ? ''
    : override.refused
      ? ` The override of run ${override.of} was not applied: ${override.refused}`
      : unreviewed > 0
        ? ` Run ${override.of} was applied anyway for the people it planned, but ${unreviewed} ${unreviewed === 1 ? 'change of this plan was' : 'changes of this plan were'} not reviewed there.`
        : '';
  return {
    code: CODE_BY_GUARD[first?.guard ?? 'deactivate'],
    message:
      `The plan would ${what}, out of ${plan.activeProfiles} linked active profiles; nothing was written.${why} ` +
      `Check the Lucca key's permissions and the report's planned changes, then apply this run ` +
      `anyway (console: "Apply anyway"; CLI: sync --apply-anyway) if the changes are ` +
      `real: the next run then applies the changes of the people this run planned, no others.`,
  };
}
