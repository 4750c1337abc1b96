import type { ExtraDiffKey, ExtraValue } from './extra-fields';

/** A profile's extra Lucca fields (`lucca.extra`), by key. */
export type ExtraValues = Record<string, ExtraValue>;

/** The six fields Lucca owns on a profile. Dates are date-only `YYYY-MM-DD` strings, never JS Dates. */
export interface SyncedFields {
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  birthDate: string | null;
  contractStart: string | null;
  contractEnd: string | null;
}

export type SyncedField = keyof SyncedFields;

export const SYNCED_FIELDS: readonly SyncedField[] = [
  'firstName',
  'lastName',
  'email',
  'birthDate',
  'contractStart',
  'contractEnd',
] as const;

/** A company's id: a slug (`acme`), used in workflow ids, URLs and commands. */
export const COMPANY_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

export type ProfileStatus = 'active' | 'upcoming' | 'former';

/** What started a sync run: its schedule, an operator (CLI or console), or a company's onboarding. */
export type SyncTrigger = 'schedule' | 'manual' | 'onboarding';

/**
 * What a run reads. `full`: every user of the company (the only read that can see an absence, so
 * the only one that plans `removed-from-lucca`). `incremental`: the users Lucca says were modified
 * since the last complete read, plus the dates that rolled for the others. `dates`: no Lucca read
 * at all, the store's own contract dates rolled to the company's today. `one-user`: one Lucca user,
 * by id.
 */
export const RUN_KINDS = ['full', 'incremental', 'dates', 'one-user'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const isRunKind = (value: unknown): value is RunKind =>
  typeof value === 'string' && (RUN_KINDS as readonly string[]).includes(value);

export type ChangeAction = 'create' | 'link' | 'update' | 'deactivate' | 'reactivate' | 'skip' | 'conflict';

export const REASON_CODES = [
  'missing-email',
  'invalid-email',
  'missing-name',
  'invalid-date',
  'duplicate-email-in-lucca',
  'email-taken',
  'ambiguous-match',
  'former-employee',
  'removed-from-lucca',
  'contract-ended',
  'rehired',
  'overwritten-local-edit',
  'out-of-scope',
  // Beyond the product contract's reason codes: a record with no usable Lucca id still needs a skip reason.
  'invalid-record',
  // A value longer than any real one (see LUCCA_FIELD_MAX_LENGTHS): the record is skipped, not stored.
  'field-too-long',
  // The platform wrote while the run applied its plan: what the store refused, reported as such.
  'email-taken-at-apply',
  'changed-during-sync',
  // An extra field's Lucca value that cannot be read as its type: the profile keeps its value.
  'invalid-value',
  // A create, link or reactivation of someone the company's previous scope left out (issue 22).
  'entered-scope',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  code: ReasonCode;
  message: string;
}

/** A Lucca legal entity or department as a profile records it; `name` is null when Lucca sent none. */
export interface PlacementUnit {
  id: number;
  name: string | null;
}

/**
 * Where a Lucca user sits (`legalEntity[id,name]`, `department[id,name]` of the users page), null
 * where the user has none. Not one of the six synced fields: the platform does not edit it, so a
 * change of it is written without a local-edit check, and the guards do not count it.
 */
export interface LuccaPlacement {
  legalEntity: PlacementUnit | null;
  department: PlacementUnit | null;
}

export type PlacementField = keyof LuccaPlacement;

export const PLACEMENT_FIELDS: readonly PlacementField[] = ['legalEntity', 'department'] as const;

/**
 * Field-level from → to: the core fields, the status, extra fields as `extra:<key>`, and the
 * placement (a placement field's values are the unit's name, its id when it has none).
 */
export type FieldDiff = Partial<
  Record<SyncedField | 'status' | ExtraDiffKey | PlacementField, { from: unknown; to: unknown }>
>;

/**
 * A Lucca user after mapping and validation: usable (possibly with per-field issues) or skipped.
 * `unusable` names the fields whose Lucca value could not be used (an invalid date): null in
 * `fields`, and a profile keeps its own value for them. Absent when there are none.
 */
export type MappedLuccaUser =
  | {
      kind: 'ok';
      luccaUserId: number;
      fields: SyncedFields;
      issues: Reason[];
      unusable?: SyncedField[];
      /** Absent when the read did not ask for it (pages staged before it was read): then nothing is compared. */
      placement?: LuccaPlacement;
      /** The company's extra fields (and null for keys being cleared); absent when it reads none. */
      extra?: ExtraValues;
      /** Extra keys whose Lucca value is unusable: the profile keeps its value. */
      unusableExtra?: string[];
    }
  | { kind: 'skip'; luccaUserId: number | null; reasons: Reason[] };

/** What the planner needs to know of a profile already on the platform. */
export interface ProfileSnapshot {
  id: string;
  fields: SyncedFields;
  status: ProfileStatus;
  lucca?: {
    userId: number;
    syncedValues: SyncedFields | null;
    removedAt?: Date | null;
    /** When a run last found the user outside the company's scope (and made the profile former); null once back in it. */
    outOfScopeAt?: Date | null;
    /** The Lucca tenant (its normalised URL) the link was made under; absent on links made before it was recorded. */
    tenant?: string | null;
    /** Where the person sat as last synced; absent on profiles synced before it was recorded. */
    placement?: LuccaPlacement;
    /** `lucca.extra`: the extra fields the profile holds (the platform may edit them too). */
    extra?: ExtraValues | null;
    /** The extra fields as the last sync wrote them, to tell a platform edit from a Lucca change. */
    syncedExtra?: ExtraValues | null;
  };
}

/** What a change was planned against: the profile's Lucca-owned values and status as the plan saw them. */
export interface PlannedFrom {
  fields: SyncedFields;
  status: ProfileStatus;
  /** What the profile held under each extra key the change writes (null: nothing). Absent from older plans. */
  extra?: ExtraValues;
}

/** One planned change; becomes a `syncChanges` document. */
export interface PlannedChange {
  action: ChangeAction;
  luccaUserId: number | null;
  profileId?: string;
  /** Field-level from → to; for `create`, from is null. */
  fields?: FieldDiff;
  /**
   * The values to write (create/link/update/reactivate/deactivate) — the full synced set; `extra`,
   * when the company reads extra fields, the value of each of them (written under `lucca.extra`);
   * the placement when the read carried it (absent: the profile's is left as it is).
   */
  target?: { fields: SyncedFields; status: ProfileStatus; extra?: ExtraValues; placement?: LuccaPlacement };
  /**
   * For a change of an existing profile: its values when planned. The apply writes only over
   * these, and otherwise makes the change again from the profile as it finds it (`rebaseChange`).
   */
  from?: PlannedFrom;
  /** Fields whose Lucca value is unusable (a bad date): the profile's value is kept, whatever it is when applied. */
  unusable?: SyncedField[];
  reasons: Reason[];
}

export interface SyncCounts {
  seen: number;
  created: number;
  linked: number;
  updated: number;
  unchanged: number;
  deactivated: number;
  reactivated: number;
  skipped: number;
  conflicts: number;
}

/** The counts in the order reports show them. */
export const COUNT_KEYS: readonly (keyof SyncCounts)[] = [
  'seen',
  'created',
  'linked',
  'updated',
  'unchanged',
  'deactivated',
  'reactivated',
  'skipped',
  'conflicts',
];

export const emptyCounts = (): SyncCounts => ({
  seen: 0,
  created: 0,
  linked: 0,
  updated: 0,
  unchanged: 0,
  deactivated: 0,
  reactivated: 0,
  skipped: 0,
  conflicts: 0,
});
